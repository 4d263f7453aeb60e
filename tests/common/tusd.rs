//! The `tusd` binary, started for real on 127.0.0.1.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::net::TcpStream;

/// A running `tusd`, killed when dropped.
pub struct Tusd {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Tusd {
    /// Ends the process the hard way: no shutdown, no flush, no unlock.
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `tusd` over `dir` with `extra` flags, once it accepts connections.
pub async fn start(dir: &Path, extra: &[&str]) -> Tusd {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_tusd"))
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--upload-dir",
        ])
        .arg(dir)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // Owned by the guard from here on, so the process is reaped whatever happens.
    let tusd = Tusd { child, addr };
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_ok() {
            return tusd;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("tusd did not start");
}
