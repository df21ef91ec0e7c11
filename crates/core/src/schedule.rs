//! When a job's fires are due: the scheduler's calendar. The job types themselves are data
//! in `faultline_model::job` (re-exported here); this module adds their evaluation
//! ([`Calendar`]) and validation ([`ValidJob`]), which need croner.
//!
//! Instants are UNIX milliseconds here. The scheduler's own clock counts milliseconds from
//! a base instant (`base_unix_ms`: the scenario's `start_time` in the simulator, 0 in real
//! mode, whose clocks read UNIX time), so a scheduler instant is `unix - base`.
//!
//! Cron expressions are parsed and evaluated by the `croner` crate in an IANA time zone
//! from `chrono-tz`. Daylight saving follows Vixie cron (croner's OCPS rules): in a
//! spring-forward gap a fixed-time job fires once, right after the gap, and wildcard or
//! step fields skip the missing instants; in a fall-back overlap a fixed-time job fires
//! once (at the first occurrence) and wildcard jobs fire in both passes. A job is
//! fixed-time when its seconds (0 in 5 fields), minute and hour are each one plain number;
//! any `*`, step, range or list there makes it a wildcard job (croner's `JobType`).
//! croner alone gets two cases wrong, which `Compiled::next_after` corrects: it skips the
//! second pass of a fall-back hour (wildcard jobs are also evaluated at each fixed UTC
//! offset the zone has around the search), and a search that crosses a spring-forward gap
//! fires a fixed-time job right after the gap even when its time was not in the gap.
//! The fires checker cannot use this module's evaluation (its crate does not depend on this
//! one): it has its own (`faultline_check::cron_oracle`), written from these rules.

use chrono::{DateTime, TimeZone, Utc};

pub use faultline_model::job::{parse_instant, JobCommand, JobSpec, Misfire, Overlap, Schedule};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("invalid cron expression `{cron}`: {why}")]
    Cron { cron: String, why: String },
    #[error("unknown time zone `{0}` (expected an IANA name such as `Europe/Berlin` or `UTC`)")]
    Tz(String),
    #[error(
        "cron expression `{0}`: a day field that starts with `*` but is not `*` (such as `*/2`) beside a \
         restricted other day field is read differently by cron implementations (and or or); write the \
         day of month as a list or range instead"
    )]
    AmbiguousDays(String),
    #[error("job name must be 1..=64 characters of [A-Za-z0-9_.-], got `{0}`")]
    Name(String),
    /// A number outside its range: what it is, the range, what was given.
    #[error("`{what}` must be {range}, got {got}")]
    Limit { what: &'static str, range: String, got: u64 },
}

/// The shortest `every_ms`: a job fires at most 10 times a second (each fire is a store txn).
pub const MIN_EVERY_MS: u64 = 100;
/// The longest `after_ms` and `misfire_after_ms`: a year.
pub const MAX_HORIZON_MS: u64 = 366 * 86_400_000;
/// The most missed instants `catch_up` may fire.
pub const MAX_CATCH_UP: u32 = 1_000;

/// `value` within `lo..=hi`, or the limit error naming `what`.
fn within(what: &'static str, value: u64, lo: u64, hi: u64) -> Result<(), ScheduleError> {
    if (lo..=hi).contains(&value) {
        return Ok(());
    }
    Err(ScheduleError::Limit { what, range: format!("{lo}..={hi}"), got: value })
}

fn parse_cron(cron: &str) -> Result<croner::Cron, ScheduleError> {
    use croner::parser::{CronParser, Seconds};
    // croner also takes a 7th (year) field; the documented form is 5 fields, or 6 with
    // seconds first (or an `@daily`-style alias).
    let fields = cron.split_whitespace().count();
    if !cron.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
        let why = format!(
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), got {fields}"
        );
        return Err(ScheduleError::Cron { cron: cron.to_string(), why });
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(cron)
        .map_err(|e| ScheduleError::Cron { cron: cron.to_string(), why: e.to_string() })
}

fn parse_tz(tz: &str) -> Result<chrono_tz::Tz, ScheduleError> {
    tz.parse().map_err(|_| ScheduleError::Tz(tz.to_string()))
}

/// A job spec's validation (its cron expression and zone are parsed with croner).
pub trait ValidJob {
    /// Checks the name, the cron expression and the time zone, and every number against its
    /// limit (an interval of 1 ms once wrote ~10.9k fires to etcd in 13 s; an `after_ms` of
    /// u64::MAX wrapped and fired at once).
    fn validate(&self) -> Result<(), ScheduleError>;
}

impl ValidJob for JobSpec {
    fn validate(&self) -> Result<(), ScheduleError> {
        let name_ok = (1..=64).contains(&self.name.len())
            && self.name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !name_ok {
            return Err(ScheduleError::Name(self.name.clone()));
        }
        match &self.schedule {
            Schedule::Cron { cron, tz } => {
                parse_cron(cron)?;
                parse_tz(tz)?;
                if ambiguous_days(cron) {
                    return Err(ScheduleError::AmbiguousDays(cron.clone()));
                }
            }
            Schedule::Every { every_ms, .. } => within("every_ms", *every_ms, MIN_EVERY_MS, MAX_HORIZON_MS)?,
            Schedule::After { after_ms } => within("after_ms", *after_ms, 0, MAX_HORIZON_MS)?,
            Schedule::At { .. } => {}
        }
        if let Misfire::CatchUp { max } = self.misfire {
            within("catch_up", u64::from(max), 1, u64::from(MAX_CATCH_UP))?;
        }
        within("misfire_after_ms", self.misfire_after_ms, 0, MAX_HORIZON_MS)?;
        within("max_attempts", u64::from(self.max_attempts), 1, u64::from(crate::task::MAX_ATTEMPTS))?;
        within("timeout_ms", self.timeout_ms, 1, crate::task::MAX_TIMEOUT_MS)?;
        within("payload bytes", self.payload.len() as u64, 0, crate::task::MAX_PAYLOAD_BYTES as u64)?;
        Ok(())
    }
}

/// A schedule's instants, as the leader decides fires.
pub trait Calendar {
    /// The first instant strictly after `after_unix_ms`, if any. The schedule must be
    /// resolved and valid (an invalid one has no instants).
    fn next_after(&self, after_unix_ms: u64) -> Option<u64>;

    /// Every instant in `(after_unix_ms, until_unix_ms]`, at most `limit` of them (the cron
    /// expression is parsed once).
    fn instants(&self, after_unix_ms: u64, until_unix_ms: u64, limit: usize) -> Vec<u64>;
}

impl Calendar for Schedule {
    fn next_after(&self, after_unix_ms: u64) -> Option<u64> {
        compile(self)?.next_after(after_unix_ms)
    }

    fn instants(&self, after_unix_ms: u64, until_unix_ms: u64, limit: usize) -> Vec<u64> {
        let Some(compiled) = compile(self) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut cursor = after_unix_ms;
        while out.len() < limit {
            match compiled.next_after(cursor) {
                Some(t) if t <= until_unix_ms => {
                    out.push(t);
                    cursor = t;
                }
                _ => break,
            }
        }
        out
    }
}

fn compile(schedule: &Schedule) -> Option<Compiled<'_>> {
    match schedule {
        Schedule::Cron { cron, tz } => Some(Compiled::Cron {
            cron: Box::new(parse_cron(cron).ok()?),
            tz: parse_tz(tz).ok()?,
            wildcard: parse_cron(cron).ok()?.determine_job_type() == croner::JobType::IntervalWildcard,
        }),
        plain => Some(Compiled::Plain(plain)),
    }
}

/// Whether one day field is `*`-prefixed but not `*` (`*/2`) while the other is restricted:
/// Vixie cron ANDs the two day fields then, croner ORs them.
fn ambiguous_days(cron: &str) -> bool {
    let fields: Vec<&str> = cron.split_whitespace().collect();
    let [dom, _, dow] = fields[fields.len().saturating_sub(3)..] else { return false };
    let starred = |f: &str| f.starts_with('*') || f.starts_with('?');
    let odd = |f: &str| starred(f) && f != "*" && f != "?";
    (odd(dom) && !starred(dow)) || (odd(dow) && !starred(dom))
}

/// A schedule ready to evaluate: a cron expression and its zone parsed.
enum Compiled<'a> {
    Plain(&'a Schedule),
    Cron { cron: Box<croner::Cron>, tz: chrono_tz::Tz, wildcard: bool },
}

impl Compiled<'_> {
    fn next_after(&self, after_unix_ms: u64) -> Option<u64> {
        match self {
            Compiled::Plain(Schedule::At { at_unix_ms }) => (*at_unix_ms > after_unix_ms).then_some(*at_unix_ms),
            Compiled::Plain(Schedule::Every { every_ms, from_unix_ms }) => {
                let from = from_unix_ms.unwrap_or(0);
                if after_unix_ms < from {
                    return Some(from + every_ms);
                }
                let n = (after_unix_ms - from) / every_ms + 1;
                Some(from + n * every_ms)
            }
            Compiled::Plain(_) => None, // `after` (unresolved); a `cron` is always compiled
            Compiled::Cron { cron, tz, wildcard } => {
                // Cron instants are whole seconds: search from the whole second at or before.
                let after_s = (after_unix_ms / 1000) as i64;
                let after = Utc.timestamp_opt(after_s, 0).single()?;
                let in_zone = next_in_zone(cron, tz, *wildcard, after)?;
                let mut next = Some(in_zone).filter(|&t| t > after_s);
                if *wildcard {
                    // The second pass of a fall-back hour: the instants that match at a fixed
                    // offset the zone really has then. The zone's offsets just after the
                    // search start and at croner's answer cover one transition in between.
                    for instant in [after_s + 1, in_zone] {
                        let offset = offset_at(tz, instant)?;
                        let fixed = cron.find_next_occurrence(&after.with_timezone(&offset), false).ok()?.timestamp();
                        if fixed > after_s && offset_at(tz, fixed)? == offset && next.is_none_or(|n| fixed < n) {
                            next = Some(fixed);
                        }
                    }
                }
                next.map(|t| t as u64 * 1000)
            }
        }
    }
}

/// croner's next occurrence after `after` in the zone. croner fires a fixed-time job at
/// the first instant after any spring-forward gap its search crosses; such an answer is
/// kept only when the job's time really fell in the gap, else the search goes on.
fn next_in_zone(cron: &croner::Cron, tz: &chrono_tz::Tz, wildcard: bool, after: DateTime<Utc>) -> Option<i64> {
    let mut from = after;
    for _ in 0..MAX_GAP_RETRIES {
        let next = cron.find_next_occurrence(&from.with_timezone(tz), false).ok()?;
        if wildcard || cron.is_time_matching(&next).ok()? || gap_matches(cron, tz, next.timestamp())? {
            return Some(next.timestamp());
        }
        from = next.with_timezone(&Utc);
    }
    None
}

/// Searches past this many spurious gap answers (one per gap crossed) before giving up.
const MAX_GAP_RETRIES: usize = 8;

/// Whether a spring-forward gap ends at UNIX second `end` and one of its missing local
/// seconds matches `cron` (read at the offset before the gap).
fn gap_matches(cron: &croner::Cron, tz: &chrono_tz::Tz, end: i64) -> Option<bool> {
    let (before, after) = (offset_at(tz, end - 1)?, offset_at(tz, end)?);
    let missing_s = after.local_minus_utc() - before.local_minus_utc();
    let first = Utc.timestamp_opt(end, 0).single()?.with_timezone(&before);
    Some(
        (0..i64::from(missing_s.max(0)))
            .any(|s| cron.is_time_matching(&(first + chrono::Duration::seconds(s))).unwrap_or(false)),
    )
}

/// The UTC offset `tz` has at UNIX second `instant`.
fn offset_at(tz: &chrono_tz::Tz, instant: i64) -> Option<chrono::FixedOffset> {
    use chrono::Offset;
    Some(tz.offset_from_utc_datetime(&Utc.timestamp_opt(instant, 0).single()?.naive_utc()).fix())
}

/// `CronFixedOffset` (the known-bug catalog): a cron schedule evaluated at the fixed UTC
/// offset its zone has at `after_unix_ms`, not in the zone.
#[cfg(madsim)]
pub fn buggy_next_after_fixed_offset(schedule: &Schedule, after_unix_ms: u64) -> Option<u64> {
    let Schedule::Cron { cron, tz } = schedule else {
        return schedule.next_after(after_unix_ms);
    };
    let (cron, tz) = (parse_cron(cron).ok()?, parse_tz(tz).ok()?);
    let after = Utc.timestamp_opt((after_unix_ms / 1000) as i64, 0).single()?;
    let fixed = offset_at(&tz, after.timestamp())?;
    let next = cron.find_next_occurrence(&after.with_timezone(&fixed), false).ok()?;
    Some(next.timestamp() as u64 * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cron(cron: &str, tz: &str) -> Schedule {
        Schedule::Cron { cron: cron.into(), tz: tz.into() }
    }

    fn at(text: &str) -> u64 {
        parse_instant(text).unwrap()
    }

    #[test]
    fn every_is_aligned_to_its_start() {
        let s = Schedule::Every { every_ms: 1000, from_unix_ms: Some(500) };
        assert_eq!(s.next_after(0), Some(1500));
        assert_eq!(s.next_after(500), Some(1500));
        assert_eq!(s.next_after(1500), Some(2500));
        assert_eq!(s.next_after(1499), Some(1500));
        assert_eq!(s.instants(500, 4000, 10), vec![1500, 2500, 3500]);
    }

    #[test]
    fn at_fires_once_and_after_resolves_at_persist() {
        let s = Schedule::After { after_ms: 250 }.resolve(1000);
        assert_eq!(s, Schedule::At { at_unix_ms: 1250 });
        assert_eq!(s.next_after(0), Some(1250));
        assert_eq!(s.next_after(1250), None);
    }

    #[test]
    fn cron_with_and_without_seconds() {
        let every_second = cron("* * * * * *", "UTC");
        assert_eq!(every_second.next_after(at("2026-01-01T00:00:00Z")), Some(at("2026-01-01T00:00:01Z")));
        let every_minute = cron("* * * * *", "UTC");
        assert_eq!(every_minute.next_after(at("2026-01-01T00:00:00.500Z")), Some(at("2026-01-01T00:01:00Z")));
    }

    #[test]
    fn cron_takes_five_or_six_fields_as_documented() {
        let spec = |c: &str| JobSpec {
            name: "j".into(),
            schedule: cron(c, "UTC"),
            misfire: Misfire::FireOnce,
            misfire_after_ms: 1000,
            overlap: Overlap::Allow,
            payload: Vec::new(),
            max_attempts: 1,
            timeout_ms: 1000,
        };
        assert!(spec("*/5 * * * *").validate().is_ok());
        assert!(spec("0 */5 * * * *").validate().is_ok());
        for bad in ["0 0 * * * * 2027", "* * * *"] {
            let err = spec(bad).validate().unwrap_err().to_string();
            assert!(
                err.contains("expected 5 fields (minute hour day-of-month month day-of-week) or 6"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn spring_forward_fires_a_fixed_time_job_once_after_the_gap() {
        // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT; 02:30 does not exist.
        let s = cron("0 30 2 * * *", "America/New_York");
        let next = s.next_after(at("2026-03-08T01:00:00-05:00")).unwrap();
        assert_eq!(next, at("2026-03-08T03:00:00-04:00"));
        // The next day it is 02:30 EDT again, 23.5 hours later: no burst of fires.
        assert_eq!(s.next_after(next), Some(at("2026-03-09T02:30:00-04:00")));
    }

    #[test]
    fn spring_forward_hourly_skips_the_missing_hour() {
        let s = cron("0 0 * * * *", "America/New_York");
        let got = s.instants(at("2026-03-08T00:30:00-05:00"), at("2026-03-08T04:30:00-04:00"), 10);
        let want = ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"];
        assert_eq!(got, want.map(at).to_vec());
    }

    #[test]
    fn spring_forward_does_not_fire_a_fixed_time_job_whose_time_was_not_skipped() {
        // croner alone fires `59 1` (and `0 3` in Sao Paulo) right after the gap too.
        let s = cron("59 1 * * *", "America/New_York");
        let got = s.instants(at("2026-03-08T01:59:30-05:00"), at("2026-03-09T02:00:00-04:00"), 10);
        assert_eq!(got, vec![at("2026-03-09T01:59:00-04:00")]);
        let s = cron("0 3 * * *", "America/Sao_Paulo");
        let got = s.instants(at("2018-11-03T12:00:00-03:00"), at("2018-11-04T12:00:00-02:00"), 10);
        assert_eq!(got, vec![at("2018-11-04T03:00:00-02:00")]);
    }

    #[test]
    fn fall_back_fires_a_fixed_time_job_once() {
        // 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
        let s = cron("0 30 1 * * *", "America/New_York");
        let got = s.instants(at("2026-11-01T00:00:00-04:00"), at("2026-11-01T03:00:00-05:00"), 10);
        assert_eq!(got, vec![at("2026-11-01T01:30:00-04:00")]);
    }

    #[test]
    fn fall_back_fires_wildcard_jobs_in_both_hours() {
        // 2026-11-01 New York: 01:00-01:59 happens as EDT (05:00Z-05:59Z), then again as EST
        // (06:00Z-06:59Z). Wildcard minute or hour fields fire in both passes (Vixie cron).
        let every_minute = cron("* * * * *", "America/New_York");
        let got = every_minute.instants(at("2026-11-01T00:59:30-04:00"), at("2026-11-01T02:00:00-05:00"), 200);
        assert_eq!(got.len(), 121, "120 minutes of the two passes and 02:00 EST");
        assert_eq!(got[0], at("2026-11-01T05:00:00Z"));
        assert_eq!(got[59], at("2026-11-01T05:59:00Z"));
        assert_eq!(got[60], at("2026-11-01T06:00:00Z"));
        assert_eq!(got[120], at("2026-11-01T07:00:00Z"));
        let hourly = cron("0 * * * *", "America/New_York");
        let got = hourly.instants(at("2026-11-01T00:30:00-04:00"), at("2026-11-01T03:00:00-05:00"), 10);
        let want = ["2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z", "2026-11-01T08:00:00Z"];
        assert_eq!(got, want.map(at).to_vec());
        let every_5 = cron("*/5 * * * *", "America/New_York");
        let got = every_5.instants(at("2026-11-01T05:00:00Z"), at("2026-11-01T07:00:00Z"), 100);
        assert_eq!(got.len(), 24, "11 more in the first pass, 12 in the second, 02:00 EST");
        // Sao Paulo 2019: midnight fell back to 23:00 on 2019-02-16; 23:xx happened twice.
        let sao_paulo = cron("* * * * *", "America/Sao_Paulo");
        let got = sao_paulo.instants(at("2019-02-16T23:58:30-02:00"), at("2019-02-16T23:01:00-03:00"), 10);
        let want = ["2019-02-17T01:59:00Z", "2019-02-17T02:00:00Z", "2019-02-17T02:01:00Z"];
        assert_eq!(got, want.map(at).to_vec());
    }

    #[test]
    fn invalid_specs_are_named() {
        let mut spec = JobSpec {
            name: "j".into(),
            schedule: cron("61 * * * *", "UTC"),
            misfire: Misfire::FireOnce,
            misfire_after_ms: 1000,
            overlap: Overlap::Allow,
            payload: vec![],
            max_attempts: 1,
            timeout_ms: 1000,
        };
        assert!(matches!(spec.validate(), Err(ScheduleError::Cron { .. })));
        spec.schedule = cron("* * * * *", "Mars/Olympus");
        assert_eq!(spec.validate(), Err(ScheduleError::Tz("Mars/Olympus".into())));
        spec.schedule = cron("* * * * *", "Europe/Berlin");
        assert_eq!(spec.validate(), Ok(()));
        spec.schedule = cron("0 0 */2 * 5", "UTC");
        assert!(matches!(spec.validate(), Err(ScheduleError::AmbiguousDays(_))));
        spec.schedule = cron("0 0 * * 5", "UTC");
        assert_eq!(spec.validate(), Ok(()));
        spec.name = "a b".into();
        assert!(matches!(spec.validate(), Err(ScheduleError::Name(_))));
    }

    #[test]
    fn every_number_of_a_job_has_a_limit() {
        let ok = JobSpec {
            name: "j".into(),
            schedule: Schedule::Every { every_ms: MIN_EVERY_MS, from_unix_ms: None },
            misfire: Misfire::CatchUp { max: MAX_CATCH_UP },
            misfire_after_ms: 1000,
            overlap: Overlap::Allow,
            payload: vec![0; crate::task::MAX_PAYLOAD_BYTES],
            max_attempts: 100,
            timeout_ms: 1000,
        };
        assert_eq!(ok.validate(), Ok(()));
        let refused = |spec: JobSpec| spec.validate().unwrap_err().to_string();
        let every_ms = Schedule::Every { every_ms: 1, from_unix_ms: None };
        assert_eq!(
            refused(JobSpec { schedule: every_ms, ..ok.clone() }),
            "`every_ms` must be 100..=31622400000, got 1"
        );
        let after = Schedule::After { after_ms: u64::MAX };
        assert!(refused(JobSpec { schedule: after, ..ok.clone() }).starts_with("`after_ms` must be 0..="));
        let catch_up = Misfire::CatchUp { max: 0 };
        assert_eq!(refused(JobSpec { misfire: catch_up, ..ok.clone() }), "`catch_up` must be 1..=1000, got 0");
        assert!(refused(JobSpec { max_attempts: 0, ..ok.clone() }).starts_with("`max_attempts` must be 1..=100"));
        assert!(refused(JobSpec { timeout_ms: 0, ..ok.clone() }).starts_with("`timeout_ms` must be 1..="));
        let payload = vec![0; crate::task::MAX_PAYLOAD_BYTES + 1];
        assert!(refused(JobSpec { payload, ..ok.clone() }).starts_with("`payload bytes` must be 0..=131072"));
    }
}
