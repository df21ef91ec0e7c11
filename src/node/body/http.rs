//! An HTTP body in a real process (reqwest, rustls). The task's idempotency key and fencing
//! token go with every call, so the service it calls can fence a stale attempt's call the
//! way faultline's sink fences a stale apply.

use super::{tail_text, Attempt, HttpBody};
use crate::node::NodeContext;
use std::sync::OnceLock;

/// The headers faultline sets on every call; a body's own headers may not replace them.
pub const RESERVED_HEADERS: [&str; 4] =
    ["idempotency-key", "faultline-task", "faultline-token-epoch", "faultline-token-attempt"];

/// One client per process: its connection pool is shared by every attempt.
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

pub(super) async fn run(body: &HttpBody, ctx: &NodeContext, attempt: Attempt<'_>) -> Result<(), String> {
    let what = format!("{} {}", body.method, body.url);
    let method = reqwest::Method::from_bytes(body.method.as_bytes()).map_err(|e| format!("{what}: {e}"))?;
    let mut request = client()
        .request(method, &body.url)
        .header("Idempotency-Key", attempt.key)
        .header("Faultline-Task", attempt.task)
        .header("Faultline-Token-Epoch", attempt.token.epoch)
        .header("Faultline-Token-Attempt", attempt.token.attempt);
    for (name, value) in &body.headers {
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(format!("{what}: the header `{name}` is faultline's own"));
        }
        request = request.header(name, value);
    }
    if let Some(payload) = &body.body {
        request = request.body(payload.clone());
    }
    let answer = request.send().await.map_err(|e| format!("{what}: {e}"))?;
    let status = answer.status();
    if status.is_success() {
        tracing::info!(node = %ctx.name, call = %what, %status, "HTTP body succeeded");
        return Ok(());
    }
    let tail = tail_text(&answer.bytes().await.unwrap_or_default());
    let tail = if tail.is_empty() { String::new() } else { format!("; answer: {tail}") };
    Err(format!("{what} answered {status}{tail}"))
}
