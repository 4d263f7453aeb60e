//! Redis servers on 127.0.0.1 for the tests: one shared by a test binary,
//! and servers of a test's own, to stop and start again.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::supervised::Supervised;
use super::tools;

/// A `redis-server` on a port of its own, without persistence, stopped when
/// dropped or when the test binary ends.
pub struct RedisServer {
    pub port: u16,
    running: Option<Supervised>,
}

impl RedisServer {
    /// Starts a Redis on a port the system picked; waits until it answers.
    pub fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = RedisServer {
            port,
            running: None,
        };
        server.start_again();
        server
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (SIGKILL): it forgets every key.
    pub fn kill(&mut self) {
        if let Some(server) = self.running.take() {
            server.kill();
        }
    }

    /// Starts the server again on the same port, empty.
    pub fn start_again(&mut self) {
        self.kill();
        self.running = Some(Supervised::start(
            "redis-server --bind 127.0.0.1 --port \"$0\" --save '' --appendonly no >/dev/null 2>&1",
            &[self.port.to_string()],
        ));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether Redis tests run: `redis-server` is installed (else the test is
/// skipped loudly, or fails when tool tests were asked for).
pub fn wanted(test: &str) -> bool {
    tools::present(test, "redis-server")
}

/// The URL of the Redis this test binary shares, started on first use and
/// stopped when the binary ends.
pub fn shared_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let server = RedisServer::start();
        let url = server.url();
        // Lives as long as the test binary, whose end stops it.
        std::mem::forget(server);
        url
    })
}
