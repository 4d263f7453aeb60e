//! etcd servers on 127.0.0.1 for the tests: one shared by a test binary,
//! and servers of a test's own, to stop and start again.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::supervised::Supervised;
use super::tools;

/// A single-member etcd on ports of its own, its data in a folder of its
/// own; stopped when dropped or when the test binary ends.
pub struct EtcdServer {
    pub port: u16,
    peer_port: u16,
    dir: tempfile::TempDir,
    running: Option<Supervised>,
}

/// Two distinct ports the system picked (both bound at once, then freed).
fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// Whether etcd at `port` says it is healthy (it has a leader).
fn is_healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.contains("\"health\":\"true\"")
}

impl EtcdServer {
    /// Starts etcd on ports the system picked; waits until it is healthy.
    pub fn start() -> EtcdServer {
        let (port, peer_port) = free_ports();
        let mut server = EtcdServer {
            port,
            peer_port,
            dir: tempfile::tempdir().unwrap(),
            running: None,
        };
        server.start_again();
        server
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL); its data stays for a restart.
    pub fn kill(&mut self) {
        if let Some(server) = self.running.take() {
            server.kill();
        }
    }

    /// Starts the server again on the same ports and data.
    pub fn start_again(&mut self) {
        self.kill();
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        self.running = Some(Supervised::start(
            "etcd --name tus --data-dir \"$0\" --listen-client-urls \"$1\" \
             --advertise-client-urls \"$1\" --listen-peer-urls \"$2\" \
             --initial-advertise-peer-urls \"$2\" --initial-cluster tus=\"$2\" \
             >\"$0.log\" 2>&1",
            &[
                self.dir.path().join("data").into_os_string(),
                client.into(),
                peer.into(),
            ],
        ));
        let deadline = Instant::now() + Duration::from_secs(20);
        // Listening is not enough: requests wait until it has elected
        // itself leader.
        while !is_healthy(self.port) {
            assert!(Instant::now() < deadline, "etcd never became healthy");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether etcd tests run: `etcd` is installed (else the test is skipped
/// loudly, or fails when tool tests were asked for).
pub fn wanted(test: &str) -> bool {
    tools::present(test, "etcd")
}

/// The endpoint of the etcd this test binary shares, started on first use
/// and stopped when the binary ends.
pub fn shared_endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        let server = EtcdServer::start();
        let endpoint = server.endpoint();
        // Lives as long as the test binary, whose end stops it.
        std::mem::forget(server);
        endpoint
    })
}
