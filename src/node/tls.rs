//! Transport security (real mode): TLS on every gRPC port and to etcd, mutual, so that a
//! request's sender is known from its certificate, and the rule for what each sender may
//! ask. A certificate names its node by its subject's common name (CN) and the node's role
//! by its organizational unit (OU: `coordinator`, `executor`, `sink` or `client`);
//! `scripts/make-certs` makes such certificates from a local CA.
//!
//! The rule ([`authorize`]) is shared by both builds. The simulator's transport has no wire
//! to encrypt: its nodes carry no credentials ([`Tls`] can only be loaded from files, in
//! the real build), so every request there is [`Peer::Open`], as on a real cluster started
//! with `--insecure`.

/// What a certificate says its holder may act as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Coordinator,
    Executor,
    Sink,
    Client,
}

impl Role {
    pub fn parse(ou: &str) -> Option<Role> {
        match ou {
            "coordinator" => Some(Role::Coordinator),
            "executor" => Some(Role::Executor),
            "sink" => Some(Role::Sink),
            "client" => Some(Role::Client),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Coordinator => "coordinator",
            Role::Executor => "executor",
            Role::Sink => "sink",
            Role::Client => "client",
        }
    }
}

/// A certificate holder: its role and its node's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub role: Role,
    pub name: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.role.as_str(), self.name)
    }
}

/// Who sent a request, as the server knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// The server runs without TLS (`--insecure`, or the simulator): anyone may ask anything.
    Open,
    /// Authenticated by a certificate the cluster's CA signed.
    Known(Identity),
    /// TLS, but the certificate names no role this cluster knows (or there is none).
    Unrecognised(String),
}

/// What a request asks.
#[derive(Clone, Copy, Debug)]
pub enum Act<'a> {
    /// Submit a task or change a job (a client's calls).
    Submit,
    /// A heartbeat, with its completions, in the name of this executor.
    Beat { executor: &'a str },
    /// Apply or check an effect at the sink in the name of this executor.
    Apply { executor: &'a str },
}

/// A refused request: who asked (as the certificate names it) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub peer: String,
    pub request: String,
}

impl Refusal {
    pub fn status(&self) -> tonic::Status {
        tonic::Status::permission_denied(format!("{} may not ask {}", self.peer, self.request))
    }
}

/// Whether `peer` may do `act`: clients submit; an executor speaks only for itself, to the
/// coordinators and to the sink.
pub fn authorize(peer: &Peer, act: Act<'_>) -> Result<(), Refusal> {
    let asked = || match act {
        Act::Submit => "to submit (clients only)".to_string(),
        Act::Beat { executor } => format!("to heartbeat as executor {executor}"),
        Act::Apply { executor } => format!("to apply an effect as executor {executor}"),
    };
    let who = match peer {
        Peer::Open => return Ok(()),
        Peer::Unrecognised(why) => {
            return Err(Refusal { peer: format!("an unrecognised peer ({why})"), request: asked() })
        }
        Peer::Known(who) => who,
    };
    let allowed = match act {
        Act::Submit => who.role == Role::Client,
        Act::Beat { executor } | Act::Apply { executor } => who.role == Role::Executor && who.name == executor,
    };
    if allowed {
        return Ok(());
    }
    Err(Refusal { peer: who.to_string(), request: asked() })
}

/// Lets `req` through if its sender may do `act`; else records the refusal in the node's
/// history (`refused`, counted by the metrics endpoint), logs it, and answers
/// PermissionDenied. A node with credentials serves with TLS; one without serves anyone.
pub fn admit<T>(ctx: &crate::node::NodeContext, req: &tonic::Request<T>, act: Act<'_>) -> Result<(), tonic::Status> {
    authorize(&peer(ctx.tls.is_some(), req), act).map_err(|refusal| {
        tracing::warn!("refused {} {}", refusal.peer, refusal.request);
        ctx.record(crate::trace::EventKind::Refused {
            peer: refusal.peer.as_str().into(),
            request: refusal.request.as_str().into(),
        });
        refusal.status()
    })
}

/// The PEM text a node presents and trusts: the cluster's CA, its own certificate and key,
/// and who that certificate says it is. Only the real build can load one.
#[derive(Clone)]
#[cfg_attr(madsim, allow(dead_code))] // the simulator never loads one
pub struct Tls {
    ca: Vec<u8>,
    cert: Vec<u8>,
    key: Vec<u8>,
    identity: Identity,
}

/// Names the holder only: the key never reaches a log.
impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tls({})", self.identity)
    }
}

impl Tls {
    /// Who this node's certificate says it is.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
}

#[cfg(not(madsim))]
pub use real::*;

#[cfg(not(madsim))]
mod real {
    use super::{Identity, Peer, Role, Tls};
    use std::path::Path;
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, ServerTlsConfig};

    impl Tls {
        /// Reads the CA certificate, this node's certificate and its private key (PEM), and
        /// checks that they make a working server and client configuration.
        pub fn load(ca: &Path, cert: &Path, key: &Path) -> Result<Tls, String> {
            let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
            let (ca_pem, cert_pem, key_pem) = (read(ca)?, read(cert)?, read(key)?);
            let identity = identity_of_pem(&cert_pem).map_err(|e| format!("{}: {e}", cert.display()))?;
            // A CA's subject need not name a role: only its form is checked here.
            let ca_der = der_of_pem(&ca_pem).map_err(|e| format!("{}: {e}", ca.display()))?;
            x509_parser::parse_x509_certificate(&ca_der)
                .map_err(|e| format!("{}: not an X.509 certificate: {e}", ca.display()))?;
            let tls = Tls { ca: ca_pem, cert: cert_pem, key: key_pem, identity };
            tonic::transport::Server::builder().tls_config(tls.server_config()).map_err(|e| {
                format!("{} and {}: not a usable certificate and key: {}", cert.display(), key.display(), causes(e))
            })?;
            Endpoint::from_static("https://127.0.0.1:1")
                .tls_config(tls.client_config())
                .map_err(|e| format!("{}: not a usable client configuration: {}", cert.display(), causes(e)))?;
            Ok(tls)
        }

        fn own(&self) -> tonic::transport::Identity {
            tonic::transport::Identity::from_pem(&self.cert, &self.key)
        }

        /// Serves with this node's certificate and requires a client certificate the CA signed.
        pub fn server_config(&self) -> ServerTlsConfig {
            ServerTlsConfig::new().identity(self.own()).client_ca_root(Certificate::from_pem(&self.ca))
        }

        /// Trusts only the CA, and presents this node's certificate.
        pub fn client_config(&self) -> ClientTlsConfig {
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.ca)).identity(self.own())
        }
    }

    /// The etcd client's options: TLS with the node's credentials, or none.
    pub fn etcd_options(tls: Option<&Tls>) -> Option<etcd_client::ConnectOptions> {
        let tls = tls?;
        Some(
            etcd_client::ConnectOptions::new().with_tls(
                etcd_client::TlsOptions::new()
                    .ca_certificate(etcd_client::Certificate::from_pem(&tls.ca))
                    .identity(etcd_client::Identity::from_pem(&tls.cert, &tls.key)),
            ),
        )
    }

    /// An error with its causes (tonic's own says only "transport error").
    fn causes(e: impl std::error::Error + Send + Sync + 'static) -> String {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        text
    }

    /// Who the first certificate in `pem` names (CN and OU of its subject).
    pub fn identity_of_pem(pem: &[u8]) -> Result<Identity, String> {
        identity_of_der(&der_of_pem(pem)?)
    }

    /// The first certificate in `pem`, DER-encoded.
    fn der_of_pem(pem: &[u8]) -> Result<Vec<u8>, String> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem).map_err(|e| format!("not a PEM certificate: {e}"))?;
        Ok(pem.contents)
    }

    /// Who a DER certificate names.
    pub fn identity_of_der(der: &[u8]) -> Result<Identity, String> {
        let (_, cert) =
            x509_parser::parse_x509_certificate(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let subject = cert.subject();
        let name = subject.iter_common_name().next().and_then(|a| a.as_str().ok()).map(str::to_string);
        let ou = subject.iter_organizational_unit().next().and_then(|a| a.as_str().ok()).map(str::to_string);
        let name = name.filter(|n| !n.is_empty()).ok_or("the certificate's subject has no common name (CN)")?;
        let ou =
            ou.ok_or_else(|| format!("certificate {name}: the subject has no organizational unit (OU) naming a role"))?;
        let role = Role::parse(&ou).ok_or_else(|| {
            format!("certificate {name}: OU `{ou}` is not a role (coordinator, executor, sink or client)")
        })?;
        Ok(Identity { role, name })
    }

    /// Who sent `req`. `secured`: the server was started with TLS.
    pub fn peer<T>(secured: bool, req: &tonic::Request<T>) -> Peer {
        if !secured {
            return Peer::Open;
        }
        let Some(certs) = req.peer_certs() else {
            return Peer::Unrecognised("no client certificate".into());
        };
        match certs.first().map(|c| identity_of_der(c.as_ref())) {
            Some(Ok(who)) => Peer::Known(who),
            Some(Err(e)) => Peer::Unrecognised(e),
            None => Peer::Unrecognised("no client certificate".into()),
        }
    }

    /// A gRPC server builder, with TLS when the node has credentials.
    pub fn server(tls: Option<&Tls>) -> Result<tonic::transport::Server, String> {
        let server = tonic::transport::Server::builder();
        match tls {
            Some(tls) => server.tls_config(tls.server_config()).map_err(causes),
            None => Ok(server),
        }
    }

    /// An endpoint for `addr` (`host:port`): https with the node's credentials, else http.
    pub fn endpoint(addr: &str, tls: Option<&Tls>) -> Result<Endpoint, String> {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let endpoint = Endpoint::from_shared(format!("{scheme}://{addr}")).map_err(|e| e.to_string())?;
        match tls {
            Some(tls) => endpoint.tls_config(tls.client_config()).map_err(causes),
            None => Ok(endpoint),
        }
    }
}

#[cfg(madsim)]
pub use sim::*;

/// The simulator's transport: no credentials exist, so there is nothing to configure.
#[cfg(madsim)]
mod sim {
    use super::{Peer, Tls};
    use tonic::transport::Endpoint;

    pub fn peer<T>(_secured: bool, _req: &tonic::Request<T>) -> Peer {
        Peer::Open
    }

    pub fn server(_tls: Option<&Tls>) -> Result<tonic::transport::Server, String> {
        Ok(tonic::transport::Server::builder())
    }

    pub fn endpoint(addr: &str, _tls: Option<&Tls>) -> Result<Endpoint, String> {
        Endpoint::from_shared(format!("http://{addr}")).map_err(|e| e.to_string())
    }

    pub fn etcd_options(_tls: Option<&Tls>) -> Option<etcd_client::ConnectOptions> {
        None
    }
}

#[cfg(test)]
mod tests;
