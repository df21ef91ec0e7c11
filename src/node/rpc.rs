//! The transport: conversions between the wire types (proto/) and the core's types,
//! gRPC channels, and finding the leader. Every call has a deadline on the caller's clock;
//! Unavailable and DeadlineExceeded are treated alike ("no reply in time").

use crate::core::executor::{Assignment, Beat, BeatReply, Completion};
use crate::core::sink::Checked;
use crate::core::{Outcome, TaskSpec, Token};
use crate::node::clock::{Elapsed, NodeClock};
use crate::node::faults::NodeFaults;
use crate::node::tls::Tls;
use crate::node::NodeContext;
use crate::proto;
use crate::trace::Verdict;
use std::future::Future;
use tonic::transport::Channel;

pub type CoordinatorClient = proto::coordinator_client::CoordinatorClient<Channel>;
pub type SinkClient = proto::sink_client::SinkClient<Channel>;

/// Why a call got no usable reply.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("bad address {0}")]
    Address(String),
    #[error("no reply: {0}")]
    Status(#[from] tonic::Status),
    #[error("no reply: {0}")]
    Timeout(#[from] crate::node::clock::Elapsed),
}

/// A lazily connected channel to `addr` (`host:port`), over TLS when `tls` is given.
pub fn channel(addr: &str, tls: Option<&Tls>) -> Result<Channel, RpcError> {
    let endpoint = crate::node::tls::endpoint(addr, tls).map_err(|e| RpcError::Address(format!("{addr}: {e}")))?;
    Ok(endpoint.connect_lazy())
}

/// Runs one outgoing call to `peer` through the node's fault layer, with a deadline of
/// `timeout_ms` on the node's clock. The layer may delay the request or the reply (within
/// the deadline), drop it, send it twice, or drop the reply after the peer has handled it; the caller sees
/// a lost request or reply as a timeout, as it would on a real network. `make` builds the
/// call; it is called twice for a duplicated request.
pub async fn through_faults<T, E, Fut>(
    faults: &NodeFaults,
    clock: &NodeClock,
    peer: &str,
    timeout_ms: u64,
    make: impl Fn() -> Fut,
) -> Result<Result<T, E>, Elapsed>
where
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let plan = faults.plan_call(peer, madsim::rand::random::<f64>);
    if plan.duplicate {
        drop(tokio::spawn(make()));
    }
    clock
        .timeout(timeout_ms, async {
            if plan.delay_ms > 0 {
                clock.sleep(plan.delay_ms).await;
            }
            if plan.drop_request {
                std::future::pending::<()>().await;
            }
            let reply = make().await;
            if faults.lose_reply(peer, madsim::rand::random::<f64>) {
                std::future::pending::<()>().await;
            }
            let held_ms = faults.delay_reply(peer, madsim::rand::random::<f64>);
            if held_ms > 0 {
                clock.sleep(held_ms).await;
            }
            reply
        })
        .await
}

/// A gRPC call from this node to `peer` through its fault layer (see [`through_faults`]).
pub async fn call<T, Fut>(ctx: &NodeContext, peer: &str, timeout_ms: u64, make: impl Fn() -> Fut) -> Result<T, RpcError>
where
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>> + Send + 'static,
    T: Send + 'static,
{
    flatten(through_faults(&ctx.faults, &ctx.clock, peer, timeout_ms, make).await)
}

/// Flattens a deadline-bounded call.
pub fn flatten<T>(
    r: Result<Result<tonic::Response<T>, tonic::Status>, crate::node::clock::Elapsed>,
) -> Result<T, RpcError> {
    Ok(r??.into_inner())
}

/// The coordinators a client knows, and which one it believes leads.
pub struct LeaderCursor {
    peers: Vec<(String, CoordinatorClient)>,
    current: usize,
}

impl LeaderCursor {
    /// `peers`: (name, address) of every coordinator; `tls`: the caller's credentials.
    pub fn new(peers: &[(String, String)], tls: Option<&Tls>) -> Result<Self, RpcError> {
        assert!(!peers.is_empty(), "at least one coordinator");
        let peers = peers
            .iter()
            .map(|(name, addr)| Ok((name.clone(), CoordinatorClient::new(channel(addr, tls)?))))
            .collect::<Result<Vec<_>, RpcError>>()?;
        Ok(LeaderCursor { peers, current: 0 })
    }

    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// The coordinator believed to lead: its name and a client for it.
    pub fn client(&self) -> (String, CoordinatorClient) {
        self.peers[self.current].clone()
    }

    /// One search for the leader that asks each coordinator at most once.
    pub fn round(&self) -> Round {
        Round { tried: vec![false; self.peers.len()] }
    }

    /// Within `round` (the current coordinator counted as asked): follows a not-leader hint
    /// to a coordinator not yet asked, or moves to the next one not yet asked. False once
    /// every coordinator was asked. A hint naming one that already failed this round is
    /// stale (a standby's view of the election lags), and following it would spend
    /// another deadline on a coordinator that is down or paused.
    pub fn redirect_within(&mut self, round: &mut Round, hint: &str) -> bool {
        round.tried[self.current] = true;
        let n = self.peers.len();
        let hinted = self.peers.iter().position(|(name, _)| name == hint).filter(|&i| !round.tried[i]);
        let next = hinted.or_else(|| (1..n).map(|k| (self.current + k) % n).find(|&i| !round.tried[i]));
        match next {
            Some(i) => {
                self.current = i;
                true
            }
            None => {
                self.current = (self.current + 1) % n;
                false
            }
        }
    }

    /// Follows a not-leader hint, or moves to the next coordinator without one.
    pub fn redirect(&mut self, hint: &str) {
        match self.peers.iter().position(|(name, _)| name == hint) {
            Some(i) if i != self.current => self.current = i,
            _ => self.current = (self.current + 1) % self.peers.len(),
        }
    }
}

/// The coordinators asked so far in one search for the leader (see
/// [`LeaderCursor::redirect_within`]).
pub struct Round {
    tried: Vec<bool>,
}

pub fn token_to_wire(t: Token) -> proto::Token {
    proto::Token { epoch: t.epoch, attempt: t.attempt }
}

pub fn token_from_wire(t: Option<proto::Token>) -> Token {
    t.map_or(Token::default(), |t| Token { epoch: t.epoch, attempt: t.attempt })
}

pub fn spec_to_wire(s: &TaskSpec) -> proto::TaskSpec {
    proto::TaskSpec {
        key: s.key.clone(),
        payload: s.payload.clone(),
        max_attempts: s.max_attempts,
        timeout_ms: s.timeout_ms,
        not_before_ms: s.not_before_ms,
    }
}

pub fn spec_from_wire(s: Option<proto::TaskSpec>) -> TaskSpec {
    let s = s.unwrap_or_default();
    TaskSpec {
        key: s.key,
        payload: s.payload,
        max_attempts: s.max_attempts.max(1),
        timeout_ms: s.timeout_ms,
        not_before_ms: s.not_before_ms,
    }
}

fn outcome_to_wire(o: &Outcome) -> (u32, String) {
    match o {
        Outcome::Succeeded => (0, String::new()),
        Outcome::Failed(why) => (1, why.clone()),
        Outcome::TimedOut => (2, String::new()),
        Outcome::Unknown(why) => (3, why.clone()),
    }
}

fn outcome_from_wire(code: u32, reason: String) -> Outcome {
    match code {
        0 => Outcome::Succeeded,
        2 => Outcome::TimedOut,
        3 => Outcome::Unknown(reason),
        _ => Outcome::Failed(reason),
    }
}

pub fn beat_to_wire(b: Beat) -> proto::HeartbeatRequest {
    proto::HeartbeatRequest {
        executor: b.executor,
        incarnation: b.incarnation,
        seq: b.seq,
        capacity: b.capacity,
        held: b
            .held
            .into_iter()
            .map(|(task_id, t)| proto::HeldTask { task_id: task_id.into(), token: Some(token_to_wire(t)) })
            .collect(),
        completed: b
            .completed
            .into_iter()
            .map(|c| {
                let (outcome, reason) = outcome_to_wire(&c.outcome);
                proto::Completion { task_id: c.task.into(), token: Some(token_to_wire(c.token)), outcome, reason }
            })
            .collect(),
        zone: b.zone,
    }
}

pub fn beat_from_wire(r: proto::HeartbeatRequest) -> Beat {
    Beat {
        executor: r.executor,
        incarnation: r.incarnation,
        seq: r.seq,
        capacity: r.capacity,
        held: r.held.into_iter().map(|h| (h.task_id.into(), token_from_wire(h.token))).collect(),
        completed: r
            .completed
            .into_iter()
            .map(|c| Completion {
                task: c.task_id.into(),
                token: token_from_wire(c.token),
                outcome: outcome_from_wire(c.outcome, c.reason),
            })
            .collect(),
        zone: r.zone,
    }
}

pub fn reply_to_wire(r: BeatReply) -> proto::HeartbeatReply {
    proto::HeartbeatReply {
        not_leader: false,
        leader_hint: String::new(),
        epoch: r.epoch,
        assignments: r
            .assignments
            .into_iter()
            .map(|a| proto::Assignment {
                task_id: a.task.into(),
                token: Some(token_to_wire(a.token)),
                spec: Some(spec_to_wire(&a.spec)),
                check_first: a.check_first,
                check_only: a.check_only,
            })
            .collect(),
        cancel: r.cancel.into_iter().map(Into::into).collect(),
        done: r.done.into_iter().map(Into::into).collect(),
        pending: r.pending,
    }
}

pub fn reply_from_wire(r: proto::HeartbeatReply) -> BeatReply {
    BeatReply {
        epoch: r.epoch,
        assignments: r
            .assignments
            .into_iter()
            .map(|a| Assignment {
                task: a.task_id.into(),
                token: token_from_wire(a.token),
                spec: spec_from_wire(a.spec),
                check_first: a.check_first,
                check_only: a.check_only,
            })
            .collect(),
        cancel: r.cancel.into_iter().map(Into::into).collect(),
        done: r.done.into_iter().map(Into::into).collect(),
        pending: r.pending,
    }
}

pub fn checked_to_wire(c: Checked) -> u32 {
    match c {
        Checked::Landed => 0,
        Checked::Absent => 1,
        Checked::Stale => 2,
    }
}

pub fn checked_from_wire(code: u32) -> Checked {
    match code {
        0 => Checked::Landed,
        1 => Checked::Absent,
        _ => Checked::Stale,
    }
}

pub fn verdict_to_wire(v: Verdict) -> u32 {
    match v {
        Verdict::Accepted => 0,
        Verdict::Duplicate => 1,
        Verdict::Stale => 2,
    }
}

pub fn verdict_from_wire(code: u32) -> Verdict {
    match code {
        0 => Verdict::Accepted,
        1 => Verdict::Duplicate,
        _ => Verdict::Stale,
    }
}
