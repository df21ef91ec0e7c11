//! Generates the gRPC code (real and simulated) from proto/faultline.proto, and names the
//! build: `FAULTLINE_COMMIT` is the git commit the sources came from (`unknown` outside a
//! git checkout), recorded in reproduction files so a replay can tell "another build".
//! PROTOC comes from .cargo/config.toml (scripts/protoc, the vendored binary).
use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/faultline.proto");
    tonic_build::configure().compile_protos(&["proto/faultline.proto"], &["proto"])?;
    println!("cargo:rustc-env=FAULTLINE_COMMIT={}", commit());
    Ok(())
}

/// The checkout's commit (12 hex digits), and the files whose change means a new one.
fn commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(head) = git(&["rev-parse", "--short=12", "HEAD"]) else { return "unknown".into() };
    // Rerun when HEAD moves: .git/HEAD itself (a checkout) and the branch it names (a commit).
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let dir = std::path::PathBuf::from(dir);
        for file in [dir.join("HEAD"), dir.join("packed-refs")] {
            if file.exists() {
                println!("cargo:rerun-if-changed={}", file.display());
            }
        }
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let file = dir.join(branch);
            if file.exists() {
                println!("cargo:rerun-if-changed={}", file.display());
            }
        }
    }
    head
}
