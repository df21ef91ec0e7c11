//! A command body in a real process: spawned in a process group of its own, so that
//! dropping the attempt (its timeout, an abort, the executor's end) kills every process it
//! started, not only the first.

use super::{tail_text, CommandBody, TAIL_BYTES};
use crate::node::NodeContext;
use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// Kills a process group when dropped: the attempt ended one way or another, and nothing
/// it started may outlive it.
struct GroupKill(Option<i32>);

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(group) = self.0.filter(|g| *g > 0) {
            // SAFETY: killpg only sends a signal; a group that is already gone gives ESRCH.
            unsafe {
                libc::killpg(group, libc::SIGKILL);
            }
        }
    }
}

pub(super) async fn run(body: &CommandBody, ctx: &NodeContext) -> Result<(), String> {
    let mut command = tokio::process::Command::new(&body.program);
    command
        .args(&body.args)
        .envs(&body.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &body.dir {
        command.current_dir(dir);
    }
    let mut child = command.spawn().map_err(|e| format!("cannot start `{}`: {e}", body.program))?;
    let _group = GroupKill(child.id().and_then(|id| i32::try_from(id).ok()));
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let (status, out_tail, err_tail) = tokio::join!(child.wait(), tail(stdout), tail(stderr));
    let status = status.map_err(|e| format!("waiting for `{}`: {e}", body.program))?;
    if status.success() {
        tracing::info!(node = %ctx.name, program = %body.program, stdout = %out_tail, "command body succeeded");
        return Ok(());
    }
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "ended abnormally".to_string(),
    };
    let stderr = if err_tail.is_empty() { String::new() } else { format!("; stderr: {err_tail}") };
    Err(format!("`{}` {how}{stderr}", body.program))
}

/// The last [`TAIL_BYTES`] of a stream, read to its end (lossy UTF-8, trimmed).
async fn tail(stream: Option<impl AsyncRead + Unpin>) -> String {
    let Some(mut stream) = stream else { return String::new() };
    let mut kept: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = stream.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&chunk[..n]);
        if kept.len() > TAIL_BYTES {
            kept.drain(..kept.len() - TAIL_BYTES);
        }
    }
    tail_text(&kept)
}
