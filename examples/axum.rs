//! Resumable uploads in an axum app, in each shape axum offers.
//!
//! `cargo run --example axum --features axum -- SHAPE`, where SHAPE is one
//! of `wrapped` (the default), `layered`, `fallback`, `mounted`, `nested` or
//! `routed`;
//! then upload with any tus client to the URL it prints.
//!
//! Every shape serves the app's own `/` beside the uploads, and the client's
//! address reaches hooks and events through axum's `ConnectInfo`.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use tower_layer::Layer;
use tower_tus::lock::MemoryLocker;
use tower_tus::store::FileStore;
use tower_tus::{Config, StoreComposer, TusLayer, UploadHandler};

/// The app's own routes.
fn routes() -> Router {
    Router::new().route("/", get(|| async { "hello from the app\n" }))
}

/// The whole router wrapped: the `TusLayer` sees each request first and
/// serves those under its base path (`/files/`).
pub fn wrapped(handler: UploadHandler) -> Router {
    Router::new().fallback_service(TusLayer::from_handler(handler).layer(routes()))
}

/// `Router::layer`: axum applies the layer to every route and to the
/// fallback, so requests under `/files/` reach it although no route names them.
pub fn layered(handler: UploadHandler) -> Router {
    routes().layer(TusLayer::from_handler(handler))
}

/// The handler as the router's fallback, serving its base path (`/files/`).
pub fn fallback(handler: UploadHandler) -> Router {
    routes().fallback_service(handler)
}

/// Mounted with `nest_service`: uploads live at `/uploads/`.
pub fn mounted(handler: UploadHandler) -> Router {
    routes().nest_service("/uploads", handler)
}

/// Mounted with `nest_service` inside a nested router: uploads live at
/// `/api/uploads/`, and their URLs follow without the prefix being repeated
/// in the handler's configuration.
pub fn nested(handler: UploadHandler) -> Router {
    routes().nest("/api", Router::new().nest_service("/uploads", handler))
}

/// `route_service` for the collection and for each upload.
pub fn routed(handler: UploadHandler) -> Router {
    routes()
        .route_service("/files/", handler.clone())
        .route_service("/files/{id}", handler)
}

/// Where each shape takes uploads.
pub fn endpoint(shape: &str) -> &'static str {
    match shape {
        "mounted" => "/uploads/",
        "nested" => "/api/uploads/",
        _ => "/files/",
    }
}

/// The app in `shape`, over `handler`.
pub fn app(shape: &str, handler: UploadHandler) -> Option<Router> {
    Some(match shape {
        "wrapped" => wrapped(handler),
        "layered" => layered(handler),
        "fallback" => fallback(handler),
        "mounted" => mounted(handler),
        "nested" => nested(handler),
        "routed" => routed(handler),
        _ => return None,
    })
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let shape = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "wrapped".to_owned());
    let mut composer = StoreComposer::new();
    FileStore::new("./uploads").use_in(&mut composer);
    MemoryLocker::new().use_in(&mut composer);
    let handler = UploadHandler::new(Config::new(composer));
    let Some(app) = app(&shape, handler) else {
        eprintln!("unknown shape {shape}: wrapped, layered, fallback, mounted, nested or routed");
        std::process::exit(2);
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!(
        "{shape}: uploads at http://{}{}",
        listener.local_addr()?,
        endpoint(&shape)
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
