//! The `tusd` binary, started for real on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running `tusd`, killed when dropped.
pub struct Tusd {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Tusd {
    /// Ends the process the hard way: no shutdown, no flush, no unlock.
    /// The lines logged so far that contain `text`.
    #[allow(dead_code)]
    pub fn logged(&self, text: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.contains(text)).cloned().collect()
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Tusd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `tusd` command line over `dir`, on a port the system picks.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tusd"));
    cmd.args(["--host", "127.0.0.1", "--port", "0", "--upload-dir"])
        .arg(dir);
    cmd
}

/// Starts `cmd` and waits for the address it says it listens on: the port
/// is the system's pick, so parallel tests never meet on one (a port found
/// free and then bound later may be taken by another test meanwhile).
pub fn launch(mut cmd: Command) -> Tusd {
    cmd.env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    // tusd logs to standard output.
    let log = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let lines = Arc::new(Mutex::new(Vec::new()));
    // Reads the log to its end, so that tusd never blocks on a full pipe.
    std::thread::spawn({
        let lines = lines.clone();
        move || {
            let mut tx = Some(tx);
            for line in BufReader::new(log).lines() {
                let Ok(line) = line else { break };
                // TUSD_TEST_LOG=1 shows what each tusd logs.
                if std::env::var_os("TUSD_TEST_LOG").is_some() {
                    eprintln!("tusd: {line}");
                }
                if let Some(addr) = listening_on(&line)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr);
                }
                lines.lock().unwrap().push(line);
            }
        }
    });
    // Owned by the guard from here on, so the process is reaped whatever happens.
    let mut tusd = Tusd {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        log: lines,
    };
    tusd.addr = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("tusd did not start");
    tusd
}

/// The address in tusd's "serving … at http://HOST:PORT/…" line.
fn listening_on(line: &str) -> Option<SocketAddr> {
    if !line.contains("serving") {
        return None;
    }
    let rest = &line[line.find("://")? + 3..];
    rest[..rest.find('/')?].parse().ok()
}

/// Starts `tusd` over `dir` with `extra` flags.
pub async fn start(dir: &Path, extra: &[&str]) -> Tusd {
    let mut cmd = command(dir);
    cmd.args(extra);
    launch(cmd)
}
