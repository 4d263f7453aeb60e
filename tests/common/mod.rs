//! Helpers shared by the integration tests.
#![allow(dead_code, unused_macros)]

#[cfg(any(feature = "redis", feature = "etcd"))]
pub mod balancer;
#[cfg(feature = "cli")]
pub mod certs;
#[cfg(feature = "etcd")]
pub mod etcd;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(any(feature = "redis", feature = "etcd"))]
pub mod supervised;
pub mod tools;
#[cfg(feature = "cli")]
pub mod tusd;

/// Runs each listed `async fn(StoreComposer)` once with a `MemoryStore` and
/// once with a `FileStore` in a fresh folder, each with a `MemoryLocker`.
macro_rules! on_every_store_composer {
    ($($rule:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $rule() { super::$rule(crate::common::memory_composer()).await; })*
        }
        mod file {
            $(#[tokio::test] async fn $rule() {
                let dir = tempfile::tempdir().unwrap();
                super::$rule(crate::common::file_composer(dir.path())).await;
            })*
        }
    };
}

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;
use tower_tus::lock::MemoryLocker;
use tower_tus::store::{FileStore, MemoryStore};
use tower_tus::{Config, StoreComposer, UploadHandler};

pub fn memory_composer() -> StoreComposer {
    let mut composer = StoreComposer::new();
    MemoryStore::new().use_in(&mut composer);
    MemoryLocker::new().use_in(&mut composer);
    composer
}

pub fn file_composer(dir: &Path) -> StoreComposer {
    let mut composer = StoreComposer::new();
    FileStore::new(dir).use_in(&mut composer);
    MemoryLocker::new().use_in(&mut composer);
    composer
}

pub fn memory_config() -> Config {
    Config::new(memory_composer())
}

pub fn file_config(dir: &Path) -> Config {
    Config::new(file_composer(dir))
}

/// A request with `Tus-Resumable: 1.0.0`.
pub fn tus(method: Method, uri: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("tus-resumable", "1.0.0")
}

pub fn empty(builder: http::request::Builder) -> Request<Full<Bytes>> {
    builder.body(Full::default()).unwrap()
}

pub fn data(builder: http::request::Builder, bytes: &[u8]) -> Request<Full<Bytes>> {
    builder
        .header("content-type", "application/offset+octet-stream")
        .body(Full::new(Bytes::copy_from_slice(bytes)))
        .unwrap()
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub async fn call(handler: &UploadHandler, req: Request<Full<Bytes>>) -> Reply {
    let res = handler.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// Creates an upload of `length` bytes and returns its URL.
pub async fn create(handler: &UploadHandler, length: u64) -> String {
    let r = call(
        handler,
        empty(tus(Method::POST, "/files/").header("upload-length", length)),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.header("location").unwrap().to_owned()
}

/// The id in an upload URL.
pub fn id_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

/// A PATCH of `bytes` at `offset`.
pub async fn patch(handler: &UploadHandler, url: &str, offset: u64, bytes: &[u8]) -> Reply {
    call(
        handler,
        data(
            tus(Method::PATCH, url).header("upload-offset", offset),
            bytes,
        ),
    )
    .await
}

/// Creates a partial upload of `len` bytes and returns its URL.
pub async fn create_partial(handler: &UploadHandler, len: usize) -> String {
    let r = call(
        handler,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-length", len)
                .header("upload-concat", "partial"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.header("location").unwrap().to_owned()
}

pub async fn offset(handler: &UploadHandler, url: &str) -> Option<u64> {
    let r = call(handler, empty(tus(Method::HEAD, url))).await;
    r.header("upload-offset").map(|v| v.parse().unwrap())
}

/// Serves `handler` with hyper on 127.0.0.1; the task ends when aborted.
pub async fn serve(handler: UploadHandler) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            let svc = hyper_util::service::TowerToHyperService::new(handler.clone());
            conns.spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, task)
}

/// One raw HTTP/1.1 exchange on a fresh connection; returns status line, headers and body.
pub async fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    if head.starts_with("HEAD ") {
        // A HEAD response's Content-Length tells of a body never sent.
        return read_head_response(&mut stream).await;
    }
    read_response(&mut stream).await
}

/// Reads the head of a response to a HEAD request from `stream`.
pub async fn read_head_response(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("response within 10 s")
            .unwrap();
        assert!(n > 0, "connection closed before a response");
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, Vec::new())
}

/// Reads one response (headers, then a Content-Length body) from `stream`.
pub async fn read_response(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("response within 10 s")
            .unwrap();
        assert!(
            n > 0,
            "connection closed before a response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .unwrap_or_else(|_| panic!("response body within 10 s, after {head}"))
            .unwrap();
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    (status, head, body)
}

pub fn header_of(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// Deterministic test bytes.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Waits until upload `id`'s file in `dir` holds `len` bytes: unlike a
/// HEAD, which takes the upload's lock over, it leaves a running request be.
pub async fn wait_for_size(dir: &Path, id: &str, len: u64) {
    eventually(10, || async {
        std::fs::metadata(dir.join(id)).unwrap().len() >= len
    })
    .await;
}

/// Waits until the handler has read every chunk sent on `tx`: a HEAD
/// would ask the writer to let go.
pub async fn taken(tx: &tokio::sync::mpsc::Sender<Bytes>) {
    eventually(5, || async { tx.capacity() == tx.max_capacity() }).await;
}

/// Polls `f` until it returns true, for at most `secs` seconds.
pub async fn eventually<F, Fut>(secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A body of separate frames with no declared length, like a chunked request.
pub struct Frames(std::collections::VecDeque<Bytes>);

impl Frames {
    pub fn new(parts: &[&[u8]]) -> Self {
        Frames(parts.iter().map(|p| Bytes::copy_from_slice(p)).collect())
    }
}

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(http_body::Frame::data(b))))
    }
}

/// A memory store whose uploads offer only the core: no extension at all.
pub struct CoreOnly(pub MemoryStore);

#[async_trait::async_trait]
impl tower_tus::store::DataStore for CoreOnly {
    async fn new_upload(
        &self,
        info: tower_tus::FileInfo,
    ) -> Result<Box<dyn tower_tus::store::Upload>, tower_tus::StoreError> {
        self.0.new_upload(info).await
    }
    async fn get_upload(
        &self,
        id: &str,
    ) -> Result<Box<dyn tower_tus::store::Upload>, tower_tus::StoreError> {
        self.0.get_upload(id).await
    }
    fn extensions(&self) -> tower_tus::store::Extensions {
        tower_tus::store::Extensions::none()
    }
}

/// A handler over a `MemoryStore`.
pub fn memory_handler() -> UploadHandler {
    UploadHandler::new(memory_config())
}

/// Traffic the metrics tests count: one upload of 5 bytes, a PATCH at a
/// wrong offset (409), and a HEAD.
pub async fn metered_traffic(h: &UploadHandler) {
    let url = create(h, 5).await;
    assert_eq!(patch(h, &url, 0, b"hello").await.status, 204);
    assert_eq!(patch(h, &url, 3, b"x").await.status, 409);
    call(h, empty(tus(Method::HEAD, &url))).await;
}

/// A request with any body through `handler`.
#[cfg(feature = "testing")]
pub async fn send<B>(h: &UploadHandler, req: Request<B>) -> Reply
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<tower_tus::BoxError>,
{
    let res = h.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

#[cfg(feature = "testing")]
/// A PATCH at offset 0 on its own task, its body sent bit by bit by the test.
pub fn streaming_patch(
    h: &UploadHandler,
    url: &str,
) -> (
    tokio::sync::mpsc::Sender<Bytes>,
    tokio::task::JoinHandle<Reply>,
) {
    let (tx, body) = tower_tus::testing::Channel::new();
    let req = tus(Method::PATCH, url)
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(body)
        .unwrap();
    let h = h.clone();
    (tx, tokio::spawn(async move { send(&h, req).await }))
}
