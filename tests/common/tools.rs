//! Tests that need programs from outside Rust: real tus clients (Node.js,
//! Python), Chromium, strace. They run when `TUS_TOOL_TESTS=1` (`.ci/run`
//! sets it); otherwise each says loudly that it was skipped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Whether tests needing outside tools run: `TUS_TOOL_TESTS=1`.
fn asked_for() -> bool {
    std::env::var("TUS_TOOL_TESTS").is_ok_and(|v| v == "1")
}

/// Says loudly that `test` was skipped. Written to the process's stderr
/// itself: the test harness captures `eprintln!` of passing tests.
fn skipped(test: &str, why: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!! SKIPPED {test}: {why} !!!!!!!!\n"
    );
}

/// Whether tests needing outside tools run; says loudly when not.
pub fn wanted(test: &str, needs: &str) -> bool {
    if asked_for() {
        return true;
    }
    skipped(
        test,
        &format!("it needs {needs}; run with TUS_TOOL_TESTS=1 (as .ci/run does)"),
    );
    false
}

/// Whether `tool` runs here. Missing, the test is skipped loudly, or fails
/// when tool tests were asked for.
pub fn present(test: &str, tool: &str) -> bool {
    if Command::new(tool).arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        !asked_for(),
        "{tool} is needed for {test} and is not installed"
    );
    skipped(test, &format!("{tool} is not installed"));
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

/// What a test needs installed from `interop/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clients {
    /// The Node.js packages: tus-js-client, Uppy, playwright-core, tus-node-server.
    Node,
    /// tuspy in a Python venv.
    Python,
}

/// Installs the pinned clients `what` needs, once per test binary. The
/// machine's own tools (Node.js, Python, Chromium) must be there already:
/// `.ci/run` installs them.
pub fn install(what: Clients) {
    static NODE: OnceLock<()> = OnceLock::new();
    static PYTHON: OnceLock<()> = OnceLock::new();
    let (once, scope, tool) = match what {
        Clients::Node => (&NODE, "node", "node"),
        Clients::Python => (&PYTHON, "python", "python3"),
    };
    once.get_or_init(|| {
        require(tool);
        let out = Command::new("bash")
            .arg(interop_dir().join("install.sh"))
            .arg(scope)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "interop/install.sh {scope} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}
