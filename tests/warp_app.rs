//! `examples/warp.rs` served on 127.0.0.1: tus uploads and warp routes on
//! one server.

#[path = "../examples/warp.rs"]
#[allow(dead_code)]
mod example;

mod common;

use common::{header_of, raw};

#[tokio::test]
async fn uploads_and_warp_routes_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(example::serve(listener, example::app(dir.path())));

    let (status, head, _) = raw(
        addr,
        &format!("POST /files/ HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 11\r\nContent-Length: 0\r\n\r\n"),
        b"",
    )
    .await;
    assert_eq!(status, 201, "{head}");
    let url = header_of(&head, "location").unwrap();
    let (status, _, _) = raw(
        addr,
        &format!("PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 11\r\n\r\n"),
        b"from a warp",
    )
    .await;
    assert_eq!(status, 204);
    let id = url.rsplit('/').next().unwrap();
    assert_eq!(std::fs::read(dir.path().join(id)).unwrap(), b"from a warp");

    let (status, _, body) = raw(
        addr,
        &format!("GET /hello/tus HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
        b"",
    )
    .await;
    assert_eq!((status, &body[..]), (200, &b"hello, tus\n"[..]));
    let (status, _, body) = raw(
        addr,
        &format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
        b"",
    )
    .await;
    assert_eq!(
        (status, &body[..]),
        (200, &b"hello from the warp app\n"[..])
    );
    // What neither serves is warp's rejection.
    let (status, _, _) = raw(
        addr,
        &format!("GET /nowhere HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
        b"",
    )
    .await;
    assert_eq!(status, 404);
}
