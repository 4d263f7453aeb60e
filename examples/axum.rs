//! An axum app with resumable uploads at `/files/`.
//!
//! `cargo run --example axum`, then upload with any tus client to
//! `http://127.0.0.1:3000/files/`.

use axum::Router;
use axum::routing::get;
use tower_layer::Layer;
use tower_tus::lock::MemoryLocker;
use tower_tus::store::FileStore;
use tower_tus::{Config, StoreComposer, TusLayer};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut composer = StoreComposer::new();
    FileStore::new("./uploads").use_in(&mut composer);
    MemoryLocker::new().use_in(&mut composer);

    let router = Router::new().route("/", get(|| async { "tus endpoint at /files/\n" }));
    // Wrap the whole router: axum routes before `Router::layer` middleware runs.
    let app = Router::new().fallback_service(TusLayer::new(Config::new(composer)).layer(router));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}/", listener.local_addr()?);
    axum::serve(listener, app).await
}
