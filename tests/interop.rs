//! Real tus clients (tus-js-client, tuspy) against the `tusd` binary.
//!
//! Runs `scripts/interop.sh` with the `tusd` built for this test run. The
//! clients come from `../shared/tools`; when they cannot be found or
//! installed the test is skipped with a loud message, except under
//! `CI=true`, where that is a failure.
#![cfg(feature = "cli")]

use std::path::Path;
use std::process::Command;

fn skip_or_fail(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("interop clients unavailable in CI: {why}");
    }
    eprintln!("\n!!!!!!!! SKIPPING the real-client interop test: {why} !!!!!!!!\n");
}

#[test]
fn tus_js_client_and_tuspy_upload_cut_resume_and_download() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tools = std::env::var("TUS_TOOLS").unwrap_or_else(|_| "../shared/tools".into());
    if !root.join(&tools).join("clients/tusjs-upload.mjs").exists()
        && !Path::new(&tools).join("clients/tusjs-upload.mjs").exists()
    {
        return skip_or_fail(&format!("{tools} not found"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return skip_or_fail("node is not installed");
    }
    let out = Command::new("bash")
        .arg(root.join("scripts/interop.sh"))
        .current_dir(root)
        .env("TUSD_BIN", env!("CARGO_BIN_EXE_tusd"))
        .env("TUS_TOOLS", &tools)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("INTEROP OK"),
        "interop failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
