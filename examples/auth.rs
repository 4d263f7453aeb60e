//! Uploads behind authentication, with browser preflights still answered.
//!
//! The auth middleware sits outside the `TusLayer` and lets `OPTIONS`
//! through: a browser's preflight never carries credentials, and the
//! `TusLayer` answers it with the CORS and tus discovery headers. Every other
//! request to `/files/` needs the token before the upload handler sees it,
//! so an unauthenticated request creates and writes nothing. Routes outside
//! `/files/` are the app's own business.
//!
//! `cargo run --example auth`, then upload with
//! `Authorization: Bearer let-me-in` to `http://127.0.0.1:3000/files/`.

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{Method, StatusCode};
use tower_layer::Layer;
use tower_tus::lock::MemoryLocker;
use tower_tus::store::FileStore;
use tower_tus::{Config, StoreComposer, TusLayer};

const TOKEN: &str = "Bearer let-me-in";

async fn require_token(req: Request, next: Next) -> Response {
    let guarded = req.uri().path().starts_with("/files") && req.method() != Method::OPTIONS;
    let authorized = req
        .headers()
        .get("authorization")
        .is_some_and(|v| v == TOKEN);
    if guarded && !authorized {
        return (StatusCode::UNAUTHORIZED, "missing or wrong credentials\n").into_response();
    }
    next.run(req).await
}

/// The app: public routes, and uploads for token holders.
pub fn app(config: Config) -> Router {
    let router = Router::new().route("/", get(|| async { "public\n" }));
    Router::new()
        .fallback_service(TusLayer::new(config).layer(router))
        .layer(middleware::from_fn(require_token))
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut composer = StoreComposer::new();
    FileStore::new("./uploads").use_in(&mut composer);
    MemoryLocker::new().use_in(&mut composer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}/", listener.local_addr()?);
    axum::serve(listener, app(Config::new(composer))).await
}
