//! Over real connections: interruption, restarts, races and lock takeover.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use http::{Method, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tower_tus::UploadHandler;

fn post_head(addr: SocketAddr, length: usize) -> String {
    format!(
        "POST /files/ HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Length: {length}\r\nContent-Length: 0\r\n\r\n"
    )
}

fn patch_head(addr: SocketAddr, url: &str, offset: usize, len: usize) -> String {
    format!(
        "PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {len}\r\n\r\n"
    )
}

fn head_head(addr: SocketAddr, url: &str) -> String {
    format!("HEAD {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\n\r\n")
}

async fn create_raw(addr: SocketAddr, length: usize) -> String {
    let (status, head, _) = raw(addr, &post_head(addr, length), b"").await;
    assert_eq!(status, 201);
    header_of(&head, "location").unwrap()
}

async fn head_offset(addr: SocketAddr, url: &str) -> Option<u64> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(head_head(addr, url).as_bytes())
        .await
        .unwrap();
    let (_, head, _) = read_head_only(&mut stream).await;
    header_of(&head, "upload-offset").map(|v| v.parse().unwrap())
}

/// A HEAD response has a Content-Length but no body.
async fn read_head_only(stream: &mut TcpStream) -> (u16, String, ()) {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    (head.split(' ').nth(1).unwrap().parse().unwrap(), head, ())
}

#[tokio::test]
async fn a_patch_cut_mid_body_keeps_every_byte_that_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, _server) = serve(UploadHandler::new(file_config(dir.path()))).await;
    let url = create_raw(addr, 1_000_000).await;
    let data = pattern(1_000_000);

    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(patch_head(addr, &url, 0, data.len()).as_bytes())
        .await
        .unwrap();
    stream.write_all(&data[..300_007]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(stream);

    eventually(5, || async {
        head_offset(addr, &url).await == Some(300_007)
    })
    .await;
    let id = url.rsplit('/').next().unwrap();
    assert_eq!(
        std::fs::read(dir.path().join(id)).unwrap(),
        &data[..300_007]
    );

    // The client resumes from there.
    let (status, head, _) = raw(
        addr,
        &patch_head(addr, &url, 300_007, data.len() - 300_007),
        &data[300_007..],
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        header_of(&head, "upload-offset").as_deref(),
        Some("1000000")
    );
    assert_eq!(std::fs::read(dir.path().join(id)).unwrap(), data);
}

#[tokio::test]
async fn a_restart_between_chunks_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(200_000);
    let (addr, server) = serve(UploadHandler::new(file_config(dir.path()))).await;
    let url = create_raw(addr, data.len()).await;
    let (status, _, _) = raw(addr, &patch_head(addr, &url, 0, 120_000), &data[..120_000]).await;
    assert_eq!(status, 204);
    server.abort();
    let _ = server.await;

    // A new process over the same folder.
    let (addr, _server) = serve(UploadHandler::new(file_config(dir.path()))).await;
    assert_eq!(head_offset(addr, &url).await, Some(120_000));
    let (status, _, _) = raw(
        addr,
        &patch_head(addr, &url, 120_000, 80_000),
        &data[120_000..],
    )
    .await;
    assert_eq!(status, 204);
    let get = format!("GET {url} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let (status, _, body) = raw(addr, &get, b"").await;
    assert_eq!(status, 200);
    assert_eq!(body, data);
}

/// A server over `dir` and an upload of 100,000 bytes whose PATCH sent
/// 40,000 of them, then hangs with its connection open.
async fn half_dead_patch(dir: &std::path::Path) -> (SocketAddr, String, Vec<u8>, TcpStream) {
    let config = file_config(dir).lock_timeout(Duration::from_secs(5));
    // The server runs on, detached, as long as the test's runtime.
    let (addr, _) = serve(UploadHandler::new(config)).await;
    let data = pattern(100_000);
    let url = create_raw(addr, data.len()).await;
    let mut old = TcpStream::connect(addr).await.unwrap();
    old.write_all(patch_head(addr, &url, 0, data.len()).as_bytes())
        .await
        .unwrap();
    old.write_all(&data[..40_000]).await.unwrap();
    old.flush().await.unwrap();
    wait_for_size(dir, &id_of(&url), 40_000).await;
    (addr, url, data, old)
}

/// The PATCH that sends the rest of [`half_dead_patch`]'s upload.
async fn resume_after_half(addr: SocketAddr, url: &str, data: &[u8]) {
    let (status, head, _) = raw(
        addr,
        &patch_head(addr, url, 40_000, 60_000),
        &data[40_000..],
    )
    .await;
    assert_eq!(status, 204, "{head}");
}

#[tokio::test]
async fn a_patch_its_state_refuses_never_interrupts_the_request_writing() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, url, data, mut old) = half_dead_patch(dir.path()).await;
    // Behind what is stored, a length other than the upload's, a body past
    // its end: each refused at once, without asking the writer to stop.
    for (at, extra, len, status) in [
        (0, "", 10, 409),
        (40_000, "Upload-Length: 7\r\n", 10, 400),
        (40_000, "", 70_000, 413),
    ] {
        let head = format!(
            "PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\n\
             Upload-Offset: {at}\r\n{extra}Content-Type: application/offset+octet-stream\r\n\
             Content-Length: {len}\r\n\r\n"
        );
        let started = Instant::now();
        let (got, _, _) = raw(addr, &head, &data[at..at + len.min(data.len() - at)]).await;
        assert_eq!(got, status, "{head}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    // The writer was never interrupted: it sends the rest and finishes.
    old.write_all(&data[40_000..]).await.unwrap();
    let (status, head, _) = read_response(&mut old).await;
    assert_eq!(status, 204, "{head}");
    assert_eq!(std::fs::read(dir.path().join(id_of(&url))).unwrap(), data);
}

#[tokio::test]
async fn a_reconnecting_client_takes_over_a_half_dead_requests_lock() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, url, data, mut old) = half_dead_patch(dir.path()).await;
    let id = url.rsplit('/').next().unwrap();

    // The client reconnects and resumes from where it knows it was.
    let started = Instant::now();
    resume_after_half(addr, &url, &data).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took over without waiting out the lock"
    );

    // The old request was told it was interrupted.
    let (status, _, body) = read_response(&mut old).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert_eq!(std::fs::read(dir.path().join(id)).unwrap(), data);
}

#[tokio::test]
async fn a_head_takes_over_a_half_dead_request_and_tells_what_it_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, url, data, mut old) = half_dead_patch(dir.path()).await;
    let id = url.rsplit('/').next().unwrap();

    // A resuming client asks for the offset first: the old request lets
    // go at once, and the answer is everything it kept.
    let started = Instant::now();
    assert_eq!(head_offset(addr, &url).await, Some(40_000));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "waited out the lock"
    );
    let (status, _, body) = tokio::time::timeout(Duration::from_secs(2), read_response(&mut old))
        .await
        .expect("the old request was answered");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    resume_after_half(addr, &url, &data).await;
    assert_eq!(std::fs::read(dir.path().join(id)).unwrap(), data);
}

#[tokio::test]
async fn two_clients_racing_on_one_upload_corrupt_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, _server) = serve(UploadHandler::new(file_config(dir.path()))).await;
    let data = pattern(2_000_000);
    let url = create_raw(addr, data.len()).await;

    // Each client uploads the whole file the way a tus client does: HEAD for
    // the offset, PATCH the rest, start over on any refusal.
    let client = |pace: u64| {
        let (url, data) = (url.clone(), data.clone());
        async move {
            for _ in 0..200 {
                let offset = head_offset(addr, &url).await.unwrap() as usize;
                if offset == data.len() {
                    return;
                }
                let mut s = TcpStream::connect(addr).await.unwrap();
                s.write_all(patch_head(addr, &url, offset, data.len() - offset).as_bytes())
                    .await
                    .unwrap();
                for piece in data[offset..].chunks(65_536) {
                    if s.write_all(piece).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(pace)).await;
                }
                let _ = tokio::time::timeout(Duration::from_secs(5), read_response(&mut s)).await;
            }
            panic!("client never finished");
        }
    };
    let a = tokio::spawn(client(3));
    let b = tokio::spawn(client(5));
    a.await.unwrap();
    b.await.unwrap();

    assert_eq!(head_offset(addr, &url).await, Some(data.len() as u64));
    let id = url.rsplit('/').next().unwrap();
    assert_eq!(
        std::fs::read(dir.path().join(id)).unwrap(),
        data,
        "every byte exactly once, in order"
    );
}

#[tokio::test]
async fn expect_100_continue_is_honoured() {
    let (addr, _server) = serve(UploadHandler::new(memory_config())).await;
    let head = format!(
        "POST /files/ HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 5\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    );
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let (status, _, _) = read_head_only(&mut s).await;
    assert_eq!(status, 100);
    s.write_all(b"hello").await.unwrap();
    let (status, head, _) = read_response(&mut s).await;
    assert_eq!(status, 201);
    assert_eq!(header_of(&head, "upload-offset").as_deref(), Some("5"));
}

#[tokio::test]
async fn a_lock_that_is_never_released_times_out_with_423() {
    use tower_tus::Locker;
    use tower_tus::lock::MemoryLocker;
    use tower_tus::store::MemoryStore;

    let locker = MemoryLocker::new();
    let mut composer = tower_tus::StoreComposer::new();
    MemoryStore::new().use_in(&mut composer);
    locker.use_in(&mut composer);
    let h = UploadHandler::new(
        tower_tus::Config::new(composer).lock_timeout(Duration::from_millis(200)),
    );
    let url = create(&h, 3).await;
    let id = url.rsplit('/').next().unwrap();
    // A holder that ignores release requests.
    let _held = locker
        .lock(id, tower_tus::lock::LockMode::Wait, Duration::from_secs(1))
        .await
        .unwrap();
    let r = call(
        &h,
        data(
            tus(Method::PATCH, &url).header("upload-offset", "0"),
            b"abc",
        ),
    )
    .await;
    // 423: what tus-js-client and Uppy retry.
    assert_eq!(r.status, StatusCode::LOCKED);
    assert!(r.text().contains("lock"), "{}", r.text());
    // A HEAD asks the holder to let go too; when it does not, the HEAD
    // still answers, from the state stored.
    assert_eq!(offset(&h, &url).await, Some(0));
}

fn chunked_patch(addr: SocketAddr, url: &str, offset: usize) -> String {
    format!(
        "PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\nTransfer-Encoding: chunked\r\nTrailer: Upload-Checksum\r\n\r\n"
    )
}

#[tokio::test]
async fn a_checksum_in_a_trailer_is_verified() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, _server) = serve(UploadHandler::new(file_config(dir.path()))).await;
    let url = create_raw(addr, 22).await;

    // sha1("hello world"), sent after the data as a real HTTP/1.1 trailer.
    let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nUpload-Checksum: sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=\r\n\r\n";
    let (status, head, _) = raw(addr, &chunked_patch(addr, &url, 0), body).await;
    assert_eq!(status, 204, "{head}");
    assert_eq!(header_of(&head, "upload-offset").as_deref(), Some("11"));

    // A wrong digest in the trailer: 460, and the chunk is gone.
    let body = b"b\r\nhello again\r\n0\r\nUpload-Checksum: md5 XrY7u+Ae7tCTyyK7j1rNww==\r\n\r\n";
    let (status, _, _) = raw(addr, &chunked_patch(addr, &url, 11), body).await;
    assert_eq!(status, 460);
    assert_eq!(head_offset(addr, &url).await, Some(11));

    // The trailer was announced but never came.
    let body = b"b\r\nhello again\r\n0\r\n\r\n";
    let (status, _, _) = raw(addr, &chunked_patch(addr, &url, 11), body).await;
    assert_eq!(status, 400);
    assert_eq!(head_offset(addr, &url).await, Some(11));
    let id = url.rsplit('/').next().unwrap();
    assert_eq!(std::fs::read(dir.path().join(id)).unwrap(), b"hello world");
}

#[tokio::test]
async fn a_checksummed_patch_cut_mid_body_keeps_nothing_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, _server) = serve(UploadHandler::new(file_config(dir.path()))).await;
    let url = create_raw(addr, 100).await;
    let (status, _, _) = raw(addr, &patch_head(addr, &url, 0, 10), b"0123456789").await;
    assert_eq!(status, 204);

    let head = format!(
        "PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 10\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 90\r\nUpload-Checksum: sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=\r\n\r\n"
    );
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[7u8; 40]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(s);

    // An incomplete chunk cannot be verified, so none of it stays.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(head_offset(addr, &url).await, Some(10));
    let id = url.rsplit('/').next().unwrap();
    assert_eq!(std::fs::read(dir.path().join(id)).unwrap(), b"0123456789");
}
