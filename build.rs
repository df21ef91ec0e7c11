//! Generates the gRPC code (real and simulated) from proto/faultline.proto.
//! PROTOC comes from .cargo/config.toml (scripts/protoc, the vendored binary).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/faultline.proto");
    tonic_build::configure().compile_protos(&["proto/faultline.proto"], &["proto"])?;
    Ok(())
}
