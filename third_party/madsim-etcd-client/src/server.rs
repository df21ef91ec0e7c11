use futures_util::{
    select_biased,
    stream::{self, FuturesUnordered},
    FutureExt, StreamExt,
};
use madsim::net::{
    shared::{calls_after, reply, SharedCall},
    Endpoint, Payload, Receiver, Sender,
};
use std::{io::Result, net::SocketAddr, sync::Arc};

use super::{election::*, kv::*, service::EtcdService, Bytes};

/// How long the server holds each request before handling it (faultline patch: a model of
/// a healthy etcd's latency, e.g. WAL fsync stalls). Called once per request, and once per
/// message of a keep-alive stream, in arrival order.
pub type RequestDelay = Arc<dyn Fn() -> std::time::Duration + Send + Sync>;

/// How many `accept1` calls the server keeps pending (faultline patch, PATCHED.md).
const ACCEPTS_PENDING: usize = 64;

/// A simulated etcd server.
#[derive(Default, Clone)]
pub struct SimServer {
    timeout_rate: f32,
    load: Option<String>,
    delay: Option<RequestDelay>,
}

impl SimServer {
    /// Create a new server builder that can configure a [`SimServer`].
    pub fn builder() -> Self {
        SimServer::default()
    }

    /// Set the rate of `etcdserver: request timed out`.
    pub fn timeout_rate(mut self, rate: f32) -> Self {
        assert!((0.0..=1.0).contains(&rate));
        self.timeout_rate = rate;
        self
    }

    /// Hold each request for what `delay` returns before handling it (faultline patch).
    pub fn request_delay(mut self, delay: RequestDelay) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Load data from dump.
    pub fn load(mut self, data: String) -> Self {
        self.load = Some(data);
        self
    }

    /// Consume this [`SimServer`] creating a future that will execute the server.
    pub async fn serve(self, addr: SocketAddr) -> Result<()> {
        let ep = Endpoint::bind(addr).await?;
        let service = Arc::new(EtcdService::new(self.timeout_rate, self.load));
        // faultline patch (PATCHED.md, change 5): several accepts stay pending. Each
        // `accept1` sleeps madsim's 1 ms minimum before it takes a connection, and every
        // store call is a connection, so one accept at a time capped the store at 1,000
        // calls per simulated second.
        let mut accepts = FuturesUnordered::new();
        for _ in 0..ACCEPTS_PENDING {
            accepts.push(ep.accept1());
        }
        loop {
            let accepted = accepts.next().await.expect("accepts are never exhausted");
            accepts.push(ep.accept1());
            let (tx, mut rx, _) = accepted?;
            let service = service.clone();
            let delay = self.delay.clone();
            madsim::task::spawn(async move {
                let request = match rx.recv().await?.downcast::<SharedCall>() {
                    Ok(first) => {
                        // faultline patch (PATCHED.md, change 9): a client's unary calls
                        // share this connection
                        serve_shared(service, delay, Arc::new(tx), rx, *first).await;
                        return Ok(());
                    }
                    Err(request) => *request.downcast::<Request>().unwrap(),
                };
                let dump = matches!(request, Request::Dump);
                hold(&delay).await;
                let response: Payload = match request {
                    Request::LeaseKeepAlive { id } => loop {
                        let response: Payload = Box::new(service.lease_keep_alive(id).await);
                        service.answerable().await;
                        tx.send(response).await?;
                        rx.recv().await?;
                        hold(&delay).await;
                    },
                    Request::Campaign { name, value, lease } => {
                        select_biased! {
                            _ = tx.closed().fuse() => return Ok(()),
                            ret = service.campaign(name, value, lease).fuse() => Box::new(ret)
                        }
                    }
                    Request::Observe { name } => match service.observe(name.clone()).await {
                        Err(e) => Box::new(Err(e) as super::Result<LeaderResponse>),
                        Ok((mut leader, mut stream)) => loop {
                            select_biased! {
                                _ = tx.closed().fuse() => return Ok(()),
                                elem = stream.recv().fuse() => if elem.is_none() {
                                    return Ok(());
                                }
                            }
                            let new_leader = service._leader(name.clone());
                            if new_leader.kv == leader.kv {
                                continue;
                            }
                            leader = new_leader.clone();
                            let response: super::Result<LeaderResponse> = Ok(new_leader);
                            service.answerable().await;
                            tx.send(Box::new(response)).await?;
                        },
                    },
                    request => unary(&service, request).await,
                };
                if !dump {
                    service.answerable().await;
                }
                tx.send(response).await?;
                Ok(()) as Result<()>
            });
        }
    }
}

/// Answers one request that has one reply.
async fn unary(service: &EtcdService, request: Request) -> Payload {
    match request {
        Request::Put {
            key,
            value,
            options,
        } => Box::new(service.put(key, value, options).await),
        Request::Get { key, options } => Box::new(service.get(key, options).await),
        Request::Delete { key, options } => Box::new(service.delete(key, options).await),
        Request::Txn { txn } => Box::new(service.txn(txn).await),
        Request::LeaseGrant { ttl, id } => Box::new(service.lease_grant(ttl, id).await),
        Request::LeaseRevoke { id } => Box::new(service.lease_revoke(id).await),
        Request::LeaseTimeToLive { id, keys } => {
            Box::new(service.lease_time_to_live(id, keys).await)
        }
        Request::LeaseLeases => Box::new(service.lease_leases().await),
        Request::Proclaim { leader, value } => Box::new(service.proclaim(leader, value).await),
        Request::Leader { name } => Box::new(service.leader(name).await),
        Request::Resign { leader } => Box::new(service.resign(leader).await),
        Request::Status => Box::new(service.status().await),
        Request::Dump => Box::new(service.dump().await),
        Request::LeaseKeepAlive { .. } | Request::Campaign { .. } | Request::Observe { .. } => {
            unreachable!("a streaming request has a connection of its own")
        }
    }
}

/// Serves the unary calls of a shared connection (faultline patch, PATCHED.md change 9),
/// each in its own task, as the calls of their own connections are, until the client
/// closes it.
async fn serve_shared(
    service: Arc<EtcdService>,
    delay: Option<RequestDelay>,
    tx: Arc<Sender>,
    rx: Receiver,
    first: SharedCall,
) {
    let mut calls = stream::once(std::future::ready((tx.clone(), first))).chain(calls_after(tx, rx));
    while let Some((tx, call)) = calls.next().await {
        let (service, delay) = (service.clone(), delay.clone());
        madsim::task::spawn(async move {
            let request = *call.request.downcast::<Request>().unwrap();
            hold(&delay).await;
            let response = unary(&service, request).await;
            // A dump comes on a connection of its own (`Client::dump`), never here.
            service.answerable().await;
            let _ = reply(&tx, call.id, response).await;
        });
    }
}

/// Holds a request for the configured delay, if any (faultline patch).
async fn hold(delay: &Option<RequestDelay>) {
    if let Some(delay) = delay {
        let d = delay();
        if !d.is_zero() {
            madsim::time::sleep(d).await;
        }
    }
}

/// A request to etcd server.
#[derive(Debug)]
pub(crate) enum Request {
    // kv API
    Put {
        key: Bytes,
        value: Bytes,
        options: PutOptions,
    },
    Get {
        key: Bytes,
        options: GetOptions,
    },
    Delete {
        key: Bytes,
        options: DeleteOptions,
    },
    Txn {
        txn: Txn,
    },

    // lease API
    LeaseGrant {
        ttl: i64,
        id: i64,
    },
    LeaseRevoke {
        id: i64,
    },
    LeaseKeepAlive {
        id: i64,
    },
    LeaseTimeToLive {
        id: i64,
        keys: bool,
    },
    LeaseLeases,

    // election API
    Campaign {
        name: Bytes,
        value: Bytes,
        lease: i64,
    },
    Proclaim {
        leader: LeaderKey,
        value: Bytes,
    },
    Leader {
        name: Bytes,
    },
    Observe {
        #[allow(dead_code)]
        name: Bytes,
    },
    Resign {
        leader: LeaderKey,
    },

    // maintenance API
    Status,

    // internal API
    Dump,
}
