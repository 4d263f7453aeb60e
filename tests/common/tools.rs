//! Tests that need programs from outside Rust: real tus clients (Node.js,
//! Python), Chromium, strace. They run when `TUS_TOOL_TESTS=1` (`.ci/run`
//! sets it); otherwise each says loudly that it was skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Whether tests needing outside tools run; prints a loud notice when not.
pub fn wanted(test: &str, needs: &str) -> bool {
    if std::env::var("TUS_TOOL_TESTS").is_ok_and(|v| v == "1") {
        return true;
    }
    eprintln!(
        "\n!!!!!!!! SKIPPED {test}: it needs {needs}; run with TUS_TOOL_TESTS=1 (as .ci/run does) !!!!!!!!\n"
    );
    false
}

/// Panics unless `tool` runs: the test was asked for, so a missing tool is a failure.
pub fn require(tool: &str) {
    let found = Command::new(tool).arg("--version").output().is_ok();
    assert!(found, "{tool} is needed for this test and is not installed");
}

/// The folder of the pinned clients and peers.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// Installs the pinned clients (and Chromium, with `browser`) once per test binary.
pub fn install(browser: bool) {
    static NODE_AND_PYTHON: OnceLock<()> = OnceLock::new();
    static BROWSER: OnceLock<()> = OnceLock::new();
    let run = |args: &[&str]| {
        let out = Command::new("bash")
            .arg(interop_dir().join("install.sh"))
            .args(args)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "interop/install.sh {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    NODE_AND_PYTHON.get_or_init(|| run(&[]));
    if browser {
        BROWSER.get_or_init(|| run(&["--browser"]));
    }
}
