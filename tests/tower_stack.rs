//! `examples/hyper.rs` and `examples/tower.rs` served on 127.0.0.1: a plain
//! hyper server, and timeouts, concurrency limits and authentication around
//! the `TusLayer`, as tower users expect them to behave.

#[path = "../examples/tower.rs"]
#[allow(dead_code)]
mod example;

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{header_of, raw, read_response};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tower_tus::store::FileStore;
use tower_tus::{Config, StoreComposer};

fn config(dir: &std::path::Path) -> Config {
    let mut composer = StoreComposer::new();
    FileStore::new(dir).use_in(&mut composer);
    Config::new(composer)
}

async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

async fn stack(
    dir: &std::path::Path,
    requests: usize,
    app_requests: usize,
    timeout: Duration,
) -> SocketAddr {
    let (listener, addr) = listener().await;
    let limits = example::Limits {
        requests,
        app_requests,
        timeout,
    };
    tokio::spawn(example::plain::serve(
        listener,
        example::stack(config(dir), limits),
    ));
    addr
}

fn request(method: &str, addr: SocketAddr, path: &str, extra: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nAuthorization: {}\r\n{extra}\r\n",
        example::TOKEN
    )
}

fn create(addr: SocketAddr, length: u64) -> String {
    request(
        "POST",
        addr,
        "/files/",
        &format!("Upload-Length: {length}\r\nContent-Length: 0\r\n"),
    )
}

fn patch(addr: SocketAddr, url: &str, offset: u64, len: usize) -> String {
    request(
        "PATCH",
        addr,
        url,
        &format!(
            "Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {len}\r\n"
        ),
    )
}

async fn new_upload(addr: SocketAddr, length: u64) -> String {
    let (status, head, _) = raw(addr, &create(addr, length), b"").await;
    assert_eq!(status, 201, "{head}");
    header_of(&head, "location").unwrap()
}

/// A PATCH whose body has sent `first` bytes and then waits.
async fn half_sent_patch(addr: SocketAddr, url: &str, first: &[u8], len: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(patch(addr, url, 0, len).as_bytes())
        .await
        .unwrap();
    s.write_all(first).await.unwrap();
    s
}

async fn offset(addr: SocketAddr, url: &str) -> Option<u64> {
    let (_, head, _) = raw(addr, &request("HEAD", addr, url, ""), b"").await;
    header_of(&head, "upload-offset").map(|v| v.parse().unwrap())
}

#[tokio::test]
async fn a_plain_hyper_server_serves_uploads_beside_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let (listener, addr) = listener().await;
    tokio::spawn(example::plain::serve(
        listener,
        example::plain::app(dir.path()),
    ));
    let url = new_upload(addr, 5).await;
    let (status, _, _) = raw(addr, &patch(addr, &url, 0, 5), b"hello").await;
    assert_eq!(status, 204);
    let id = url.rsplit('/').next().unwrap();
    assert_eq!(std::fs::read(dir.path().join(id)).unwrap(), b"hello");
    let (status, _, body) = raw(addr, &request("GET", addr, "/", ""), b"").await;
    assert_eq!((status, &body[..]), (200, &b"hello from the app\n"[..]));
}

#[tokio::test]
async fn requests_without_the_token_never_reach_the_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let addr = stack(dir.path(), 16, 16, Duration::from_secs(30)).await;
    let bare = format!(
        "POST /files/ HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 5\r\nContent-Length: 0\r\n\r\n"
    );
    let (status, _, _) = raw(addr, &bare, b"").await;
    assert_eq!(status, 401);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );
    // A browser's preflight carries no credentials and is answered.
    let preflight = format!(
        "OPTIONS /files/ HTTP/1.1\r\nHost: {addr}\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n\r\n"
    );
    let (status, head, _) = raw(addr, &preflight, b"").await;
    assert_eq!(status, 200, "{head}");
    assert!(header_of(&head, "access-control-allow-origin").is_some());
    new_upload(addr, 5).await;
}

#[tokio::test]
async fn the_outer_concurrency_limit_counts_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let addr = stack(dir.path(), 1, 16, Duration::from_secs(30)).await;
    let url = new_upload(addr, 10).await;
    let mut running = half_sent_patch(addr, &url, b"01234", 10).await;
    // Its first bytes on disk: the PATCH holds the one slot.
    let id = url.rsplit('/').next().unwrap().to_owned();
    let data = dir.path().join(&id);
    common::eventually(5, || {
        let data = data.clone();
        async move { std::fs::metadata(&data).is_ok_and(|m| m.len() == 5) }
    })
    .await;
    // A HEAD waits for the slot.
    let head = tokio::spawn({
        let url = url.clone();
        async move {
            let started = Instant::now();
            let offset = offset(addr, &url).await;
            (offset, started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!head.is_finished(), "the limit held the HEAD back");
    running.write_all(b"56789").await.unwrap();
    let (status, _, _) = read_response(&mut running).await;
    assert_eq!(status, 204);
    let (offset, waited) = head.await.unwrap();
    assert_eq!(offset, Some(10));
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
}

#[tokio::test]
async fn uploads_never_wait_for_the_app_behind_them_to_be_ready() {
    let dir = tempfile::tempdir().unwrap();
    let addr = stack(dir.path(), 16, 1, Duration::from_secs(30)).await;
    // The app's only slot is busy for two seconds.
    let slow =
        tokio::spawn(async move { raw(addr, &request("GET", addr, "/slow", ""), b"").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let url = new_upload(addr, 3).await;
    let (status, _, _) = raw(addr, &patch(addr, &url, 0, 3), b"abc").await;
    assert_eq!(status, 204);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "uploads went ahead of the busy app: {:?}",
        started.elapsed()
    );
    assert!(!slow.is_finished());
    assert_eq!(slow.await.unwrap().0, 200);
}

#[tokio::test]
async fn a_timeout_answers_503_and_the_upload_keeps_what_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let addr = stack(dir.path(), 16, 16, Duration::from_millis(500)).await;
    let url = new_upload(addr, 10).await;
    let mut running = half_sent_patch(addr, &url, b"01234", 10).await;
    let started = Instant::now();
    let (status, _, _) = read_response(&mut running).await;
    assert_eq!(status, 503, "a status tus clients retry");
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(running);
    common::eventually(5, || async { offset(addr, &url).await == Some(5) }).await;
    // The client resumes where the server says.
    let (status, _, _) = raw(addr, &request("PATCH", addr, &url, "Upload-Offset: 5\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 5\r\n"), b"56789").await;
    assert_eq!(status, 204);
    let id = url.rsplit('/').next().unwrap();
    assert_eq!(std::fs::read(dir.path().join(id)).unwrap(), b"0123456789");
}
