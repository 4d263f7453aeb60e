//! The axum shapes of `examples/axum.rs`, each served on 127.0.0.1 and
//! driven by a tus client over real sockets.

#[path = "../examples/axum.rs"]
mod example;

mod common;

use std::net::SocketAddr;

use common::{header_of, raw};
use tower_tus::events::EventKind;
use tower_tus::hooks::{HookError, HookEvent, Hooks, PreCreate};
use tower_tus::store::MemoryStore;
use tower_tus::{Config, StoreComposer, UploadHandler};

fn handler() -> UploadHandler {
    handler_with(Recorder::default())
}

fn handler_with(hooks: Recorder) -> UploadHandler {
    let mut composer = StoreComposer::new();
    MemoryStore::new().use_in(&mut composer);
    UploadHandler::new(
        Config::new(composer)
            .events([EventKind::Created])
            .hooks(hooks),
    )
}

/// Records the client address each pre-create hook saw.
#[derive(Clone, Default)]
struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<Option<SocketAddr>>>>);

#[async_trait::async_trait]
impl Hooks for Recorder {
    async fn pre_create(&self, event: &HookEvent) -> Result<PreCreate, HookError> {
        self.0.lock().unwrap().push(event.request.remote_addr);
        Ok(PreCreate::Allow {
            id: None,
            metadata: None,
        })
    }
}

async fn serve(shape: &str, handler: UploadHandler) -> SocketAddr {
    let app = example::app(shape, handler).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

fn request(method: &str, addr: SocketAddr, path: &str, extra: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\n{extra}\r\n")
}

/// Creates an upload under `endpoint`, writes it in two PATCHes, reads it
/// back; returns its URL.
async fn round_trip(addr: SocketAddr, endpoint: &str, extra: &str) -> String {
    let (status, head, _) = raw(
        addr,
        &request(
            "POST",
            addr,
            endpoint,
            &format!("Upload-Length: 10\r\nContent-Length: 0\r\n{extra}"),
        ),
        b"",
    )
    .await;
    assert_eq!(status, 201, "{head}");
    let url = header_of(&head, "location").unwrap();
    assert!(url.starts_with(endpoint), "{url} is under {endpoint}");
    for (offset, bytes) in [(0, b"01234"), (5, b"56789")] {
        let patch = format!(
            "Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 5\r\n"
        );
        let (status, head, _) = raw(addr, &request("PATCH", addr, &url, &patch), bytes).await;
        assert_eq!(status, 204, "{head}");
    }
    let (status, head, _) = raw(addr, &request("HEAD", addr, &url, ""), b"").await;
    assert_eq!(status, 200);
    assert_eq!(header_of(&head, "upload-offset").as_deref(), Some("10"));
    let (status, _, body) = raw(addr, &request("GET", addr, &url, ""), b"").await;
    assert_eq!((status, &body[..]), (200, &b"0123456789"[..]));
    // The app's own route is still the app's.
    let (status, _, body) = raw(addr, &request("GET", addr, "/", ""), b"").await;
    assert_eq!((status, &body[..]), (200, &b"hello from the app\n"[..]));
    url
}

macro_rules! shapes {
    ($($test:ident => $shape:literal),* $(,)?) => {
        $(#[tokio::test]
        async fn $test() {
            let addr = serve($shape, handler()).await;
            round_trip(addr, example::endpoint($shape), "").await;
        })*
    };
}

shapes!(
    wrapping_the_router => "wrapped",
    router_layer => "layered",
    fallback_service => "fallback",
    nest_service => "mounted",
    nest_service_inside_a_nested_router => "nested",
    route_service => "routed",
);

#[tokio::test]
async fn nested_upload_urls_follow_the_mount_point_in_concatenation_too() {
    let addr = serve("nested", handler()).await;
    let partial = |extra: &'static str| round_trip(addr, "/api/uploads/", extra);
    let a = partial("Upload-Concat: partial\r\n").await;
    let b = partial("Upload-Concat: partial\r\n").await;
    // Relative and absolute URLs, as clients send them.
    let concat = format!("Upload-Concat: final;{a} http://{addr}{b}\r\nContent-Length: 0\r\n");
    let (status, head, _) = raw(addr, &request("POST", addr, "/api/uploads/", &concat), b"").await;
    assert_eq!(status, 201, "{head}");
    let url = header_of(&head, "location").unwrap();
    assert!(url.starts_with("/api/uploads/"), "{url}");
    let (_, head, _) = raw(addr, &request("HEAD", addr, &url, ""), b"").await;
    assert_eq!(
        header_of(&head, "upload-concat"),
        Some(format!("final;{a} {b}")),
        "the final's partials are named where they live"
    );
    let (_, _, body) = raw(addr, &request("GET", addr, &url, ""), b"").await;
    assert_eq!(&body[..], b"01234567890123456789");
}

#[tokio::test]
async fn the_client_address_from_connect_info_reaches_hooks_and_events() {
    for shape in [
        "wrapped", "layered", "fallback", "mounted", "nested", "routed",
    ] {
        let hooks = Recorder::default();
        let handler = handler_with(hooks.clone());
        let mut events = handler.subscribe();
        let addr = serve(shape, handler).await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let client = s.local_addr().unwrap();
        use tokio::io::AsyncWriteExt;
        s.write_all(
            request(
                "POST",
                addr,
                example::endpoint(shape),
                "Upload-Length: 1\r\nContent-Length: 0\r\n",
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let (status, _, _) = common::read_response(&mut s).await;
        assert_eq!(status, 201, "{shape}");
        let event = events.recv().await.unwrap();
        assert_eq!(event.request.remote_addr, Some(client), "{shape}");
        assert_eq!(*hooks.0.lock().unwrap(), [Some(client)], "{shape}");
    }
}
