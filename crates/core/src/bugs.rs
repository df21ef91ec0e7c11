//! The known-bug catalog: faulty behaviours of our own scheduler, each rebuilt from a
//! fault-handling bug a real scheduler shipped (../shared/FAULT-HANDLING.md lists the
//! classes). A scenario switches entries on with `bugs = ["no_sink_fencing"]`; the
//! simulator must then find the violation the entry causes, from a generic scenario.
//!
//! The catalog's names and explanations exist in every build (scenario files name them),
//! but the faulty code paths are compiled only into simulation builds: each one sits
//! behind `#[cfg(madsim)]` at its call site and asks [`BugSet::on`], which exists only
//! there. The real-mode binary therefore has no code that could switch a bug on
//! (`scripts/check-no-bugs` shows it). The switches are an explicit input: a [`BugSet`]
//! value in the core's config and in each node's context, built from the scenario by the
//! simulator (empty, and zero-sized, in a real build).

use serde::{Deserialize, Serialize};

/// One entry of the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bug {
    NoSinkFencing,
    IdempotencyPerAttempt,
    AckBeforePersist,
    LostReplyHoldsTask,
    NoLeaseCheck,
    TrustLocalLease,
    RetryRingInMemory,
    MisfireSkip,
    FailoverForgetsHolders,
    RequeueRunningOnly,
    IgnoreStoreErrors,
    EpochFromLocalCounter,
    FireBeforePersist,
    FireCursorFromNow,
    CronFixedOffset,
    GiveUpOnSlowStore,
    DeadLetterUnknownOutcome,
    FireTrustsLeaderClock,
    DoneBeforeDurable,
}

/// What a catalog entry is, what it mirrors, and what should catch it.
pub struct Entry {
    pub bug: Bug,
    /// The public issue(s) it mirrors, `owner/repo#N`.
    pub mirrors: &'static str,
    /// The bug class number in FAULT-HANDLING.md.
    pub class: u8,
    /// The violation the targeted scenario in `scenarios/bugs/` expects.
    pub expect: &'static str,
    /// One paragraph: the faulty behaviour, and why it breaks the invariant.
    pub explanation: &'static str,
}

/// Misfire threshold of [`Bug::MisfireSkip`]: a retry found later than this is skipped.
pub const MISFIRE_THRESHOLD_MS: u64 = 500;

pub const CATALOG: &[Entry] = &[
    Entry {
        bug: Bug::NoSinkFencing,
        mirrors: "apache/dolphinscheduler#16759",
        class: 4,
        expect: "duplicate_apply",
        explanation: "The sink applies every effect it is sent: no token check, no memory of what \
            landed. Any second attempt of a task (an executor declared dead that was only slow \
            or cut off, an apply retried after its reply was lost) lands its effect again. \
            DolphinScheduler's masters both dispatched the same task after a registry cut until \
            fencing (DSIP-82) was added where the effect is applied.",
    },
    Entry {
        bug: Bug::IdempotencyPerAttempt,
        mirrors: "hashicorp/nomad#16515",
        class: 12,
        expect: "duplicate_apply",
        explanation: "The sink deduplicates per attempt token instead of per task: a retried apply \
            of the same attempt is refused, but another attempt of the same task lands. When a \
            disconnected executor comes back, the attempt it kept running applies next to its \
            replacement's, as Nomad started a duplicate allocation when a disconnected client \
            reconnected.",
    },
    Entry {
        bug: Bug::AckBeforePersist,
        mirrors: "apache/airflow#58570",
        class: 8,
        expect: "lost_task",
        explanation: "The leader acknowledges a submit as soon as it queues the task's create write, \
            before the store confirms it. A leader that crashes or loses the store in between \
            has acknowledged a task no successor will ever find. Airflow's scheduler crashed \
            between enqueueing a task and recording it as queued.",
    },
    Entry {
        bug: Bug::LostReplyHoldsTask,
        mirrors: "xuxueli/xxl-job#2841",
        class: 15,
        expect: "lost_task",
        explanation: "The leader trusts a beating executor to hold what it was given: an assignment \
            delivered in a heartbeat reply that never arrived (lost or too late) is never taken \
            back, because the executor is alive. Nobody runs the task and the queue never \
            drains. XXL-JOB kept a task RUNNING forever while its executor's heartbeat looked \
            alive; our own madsim prototype hit the lost-reply form on seed 1.",
    },
    Entry {
        bug: Bug::NoLeaseCheck,
        mirrors: "apache/dolphinscheduler#8110",
        class: 6,
        expect: "stale_leader",
        explanation: "A leader frozen (GC, VM pause, CPU starvation) past its lease wakes up and \
            acts on its backlog, its overdue tick first, before noticing it was deposed: it \
            declares executors dead and dispatches while a successor leads. DolphinScheduler's \
            CPU-starved worker lost its session and kept running what had been rerun elsewhere; \
            faultline's own leader did this on pause-leader seed 1.",
    },
    Entry {
        bug: Bug::TrustLocalLease,
        mirrors: "apache/curator#980",
        class: 11,
        expect: "stale_leader",
        explanation: "The leader times its lease on a local timer started when a keep-alive reply \
            arrives, for the full TTL, ignoring that the store counts from when it received the \
            keep-alive, may expire it early, and that clocks drift. After losing the store it \
            keeps leading while a successor is elected. Curator tolerated a SUSPENDED connection \
            on a local timer and let two leaders exist at once.",
    },
    Entry {
        bug: Bug::RetryRingInMemory,
        mirrors: "xuxueli/xxl-job#3447",
        class: 2,
        expect: "lost_task",
        explanation: "Retries waiting for their backoff live only in the leader's in-memory timer \
            ring: a new leader re-queues the pending tasks that never failed and drops the ones \
            that were waiting to retry. XXL-JOB's restarted admin lost its in-memory trigger ring \
            and silently skipped those triggers.",
    },
    Entry {
        bug: Bug::MisfireSkip,
        mirrors: "xuxueli/xxl-job#1693",
        class: 2,
        expect: "lost_task",
        explanation: "A retry found more than MISFIRE_THRESHOLD_MS (500 ms) past its due time (a slow \
            or unavailable store delayed its write, a backlog held it) is treated as a misfire \
            and skipped instead of run, so a stall silently drops work. XXL-JOB skipped late \
            triggers as misfires after a stall.",
    },
    Entry {
        bug: Bug::FailoverForgetsHolders,
        mirrors: "apache/dolphinscheduler#13355",
        class: 5,
        expect: "lost_task",
        explanation: "A new leader keeps the assignments it loads from the store but does not watch \
            the executors they name: an assignment held by an executor that died around the \
            failover (restarted under a new incarnation, or gone) is never failed over. \
            DolphinScheduler's master crashed mid-failover and those instances were never failed \
            over again.",
    },
    Entry {
        bug: Bug::RequeueRunningOnly,
        mirrors: "celery/celery#4354",
        class: 10,
        expect: "lost_task",
        explanation: "When an executor is declared dead, only the attempts it confirmed running are \
            re-queued; assignments handed out but not yet confirmed are assumed to come back by \
            themselves and are dropped. Celery lost messages a worker had fetched but not started \
            when it shut down (kombu#337).",
    },
    Entry {
        bug: Bug::IgnoreStoreErrors,
        mirrors: "apache/shardingsphere-elasticjob#507",
        class: 3,
        expect: "lost_task",
        explanation: "A leader whose store writes fail (cut off, store down, fenced by a successor) \
            logs it and carries on as if they had landed: it acknowledges submits and records \
            outcomes nobody stored. An ElasticJob node that lost its registry session kept \
            running as if nothing had happened.",
    },
    Entry {
        bug: Bug::EpochFromLocalCounter,
        mirrors: "apache/airflow#57618",
        class: 7,
        expect: "split_brain",
        explanation: "A leader numbers its term with its own counter (1 + its last term) instead of \
            the store's election revision, and the fence accepts an equal epoch: two coordinators \
            lead the same epoch, and the epoch guard on every write no longer tells their updates \
            apart. Two Airflow HA schedulers raced on an unguarded update and one attempt ran \
            twice.",
    },
    Entry {
        bug: Bug::FireBeforePersist,
        mirrors: "apache/airflow#58570",
        class: 8,
        expect: "fire_twice",
        explanation: "A job's fire is enqueued before its fire record is persisted: the fire is \
            written as an ordinary task keyed by its own id and is dispatched at once, and the \
            job's cursor (its next fire time) is written afterwards, as XXL-JOB writes \
            trigger_next_time after triggering and Airflow enqueued before recording the task \
            as queued. A leader crash between the two writes leaves a fire in the queue and a \
            cursor that never moved, so the next leader fires the same instant again under a \
            new key, and the sink takes both effects.",
    },
    Entry {
        bug: Bug::FireCursorFromNow,
        mirrors: "xuxueli/xxl-job#3447",
        class: 2,
        expect: "fire_lost",
        explanation: "A new leader recomputes every job's next fire time from its own clock \
            instead of loading the persisted cursor, so the instants that fell due while no \
            leader was firing (the failover window) are neither fired nor recorded as skipped, \
            whatever the job's misfire policy says, as XXL-JOB skipped the triggers due during \
            an admin restart.",
    },
    Entry {
        bug: Bug::CronFixedOffset,
        mirrors: "kubernetes/kubernetes#121763",
        class: 14,
        expect: "fire_off_schedule",
        explanation: "Cron expressions are evaluated at the fixed UTC offset the job's time \
            zone had when it was created, not in the zone itself. Across a daylight-saving \
            change every fire lands an hour off its instant in the zone, as a CronJob whose \
            schedule was computed with the wrong offset fired at the wrong wall time around a \
            DST transition.",
    },
    Entry {
        bug: Bug::GiveUpOnSlowStore,
        mirrors: "kube-vip/kube-vip#282",
        class: 3,
        expect: "unforced_failover",
        explanation: "The leader bounds every store call by its short peer-RPC deadline (200 ms) \
            and steps down on the first write that misses it, although its lease is provably \
            alive. A healthy etcd on a busy host stalls past that now and then (fsync), so \
            leadership flaps with no fault at all: each time a term, a full reload of the \
            store, and the work in flight. kube-vip restarted on 'lost leadership' whenever a \
            lease renewal hit a slow etcd. Class 3 turned around: the session is fine, the \
            node gives it up. Caught only where a scenario bounds unforced failovers.",
    },
    Entry {
        bug: Bug::DeadLetterUnknownOutcome,
        mirrors: "hashicorp/nomad#16515 (class 12); found in faultline by swarm seed 1185",
        class: 12,
        expect: "dead_lettered_with_effect",
        explanation: "The leader counts an attempt that ended without the sink's verdict as an \
            ordinary failure, and re-dispatches a task taken back from a silent executor \
            without asking the sink whether its effect landed. An executor that reaches the \
            sink but not the leader (or whose verdicts are lost) applies the effect; the \
            next attempts fail before applying and the task is dead-lettered: the operator \
            is told the effect never happened, and replaying it applies it twice. As with \
            Nomad's disconnected clients, work done out of the scheduler's sight is counted \
            as not done. faultline's own scheduler had this until the swarm's seed 1185.",
    },
    Entry {
        bug: Bug::FireTrustsLeaderClock,
        mirrors: "apache/dolphinscheduler#12170",
        class: 9,
        expect: "fire_early",
        explanation: "The executor starts a fire as soon as it is dispatched, trusting that the \
            leader's clock said its instant had come, instead of holding it until its own clock \
            agrees. A leader whose clock runs ahead then fires early by its error. \
            DolphinScheduler's worker computed a task's remaining delay from the master's \
            dispatch timestamp, so the two clocks' disagreement moved every start.",
    },
    Entry {
        bug: Bug::DoneBeforeDurable,
        mirrors: "temporalio/temporal#9118",
        class: 13,
        expect: "rerun_after_success",
        explanation: "The leader tells an executor its completion is recorded (`done`) while the \
            outcome's write is still in flight, so the executor stops reporting it. A leader \
            that loses the store or crashes before the write lands takes the success with it: \
            its successor finds the task still running, its holder no longer reports it, and \
            it is run again. The sink fences the second effect, so only a checker that holds \
            successes against re-runs sees it. Temporal lost an activity's state between two \
            writes, leaving it stuck; here the held-task reconciliation re-runs it instead.",
    },
];

impl Bug {
    /// The snake_case name scenarios use.
    pub fn name(self) -> &'static str {
        match self {
            Bug::NoSinkFencing => "no_sink_fencing",
            Bug::IdempotencyPerAttempt => "idempotency_per_attempt",
            Bug::AckBeforePersist => "ack_before_persist",
            Bug::LostReplyHoldsTask => "lost_reply_holds_task",
            Bug::NoLeaseCheck => "no_lease_check",
            Bug::TrustLocalLease => "trust_local_lease",
            Bug::RetryRingInMemory => "retry_ring_in_memory",
            Bug::MisfireSkip => "misfire_skip",
            Bug::FailoverForgetsHolders => "failover_forgets_holders",
            Bug::RequeueRunningOnly => "requeue_running_only",
            Bug::IgnoreStoreErrors => "ignore_store_errors",
            Bug::EpochFromLocalCounter => "epoch_from_local_counter",
            Bug::FireBeforePersist => "fire_before_persist",
            Bug::FireCursorFromNow => "fire_cursor_from_now",
            Bug::CronFixedOffset => "cron_fixed_offset",
            Bug::GiveUpOnSlowStore => "give_up_on_slow_store",
            Bug::DeadLetterUnknownOutcome => "dead_letter_unknown_outcome",
            Bug::FireTrustsLeaderClock => "fire_trusts_leader_clock",
            Bug::DoneBeforeDurable => "done_before_durable",
        }
    }

    /// A bug of scheduled firing: only a scenario with jobs can show it.
    pub fn fires_jobs(self) -> bool {
        matches!(
            self,
            Bug::FireBeforePersist | Bug::FireCursorFromNow | Bug::CronFixedOffset | Bug::FireTrustsLeaderClock
        )
    }

    /// A bug judged by a bound a scenario must set (`[checks]`): a generic scenario without
    /// it cannot show it.
    pub fn needs_bound(self) -> bool {
        matches!(self, Bug::GiveUpOnSlowStore)
    }

    pub fn entry(self) -> &'static Entry {
        CATALOG.iter().find(|e| e.bug == self).expect("every bug has a catalog entry")
    }

    #[cfg(madsim)]
    fn bit(self) -> u64 {
        1 << (self as u32)
    }
}

/// The catalog entries switched on for one run: an explicit input of the core and the
/// drivers. Empty (and zero-sized) in a real-mode build.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BugSet {
    #[cfg(madsim)]
    bits: u64,
}

impl BugSet {
    /// No bug switched on: every real run, and every simulation that names none.
    pub fn none() -> Self {
        Self::default()
    }

    /// The set of `bugs` (simulation builds only).
    #[cfg(madsim)]
    pub fn of(bugs: &[Bug]) -> Self {
        BugSet { bits: bugs.iter().fold(0, |acc, b| acc | b.bit()) }
    }

    /// Whether `bug` is switched on. Simulation builds only: every faulty code path asks
    /// this behind `#[cfg(madsim)]`.
    #[cfg(madsim)]
    #[inline(never)] // kept as a symbol, so scripts/check-no-bugs can show the real build lacks it
    pub fn on(self, bug: Bug) -> bool {
        self.bits & bug.bit() != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_listed_once_with_its_serde_name() {
        let mut names: Vec<&str> = CATALOG.iter().map(|e| e.bug.name()).collect();
        assert_eq!(names.len(), 19);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOG.len());
        for e in CATALOG {
            let json = serde_json::to_string(&e.bug).unwrap();
            assert_eq!(json, format!("\"{}\"", e.bug.name()));
            assert!(e.mirrors.contains('#'), "{} names no issue", e.bug.name());
        }
    }

    #[cfg(madsim)]
    #[test]
    fn a_set_holds_exactly_its_bugs() {
        assert!(!BugSet::none().on(Bug::NoSinkFencing));
        let set = BugSet::of(&[Bug::NoSinkFencing, Bug::MisfireSkip]);
        assert!(set.on(Bug::NoSinkFencing) && set.on(Bug::MisfireSkip) && !set.on(Bug::NoLeaseCheck));
    }
}
