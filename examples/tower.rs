//! A tower stack around the uploads: a timeout, a concurrency limit and
//! token authentication outside the `TusLayer`, and a concurrency limit on
//! the app inside it, served by hyper.
//!
//! - The outer layers see every request, uploads included: the limit counts
//!   them, and a request without the token is refused before the upload
//!   handler sees it (except `OPTIONS`, which browsers send without
//!   credentials and the `TusLayer` answers with CORS).
//! - The timeout ends a request that runs too long with 503, a status tus
//!   clients retry; the upload keeps every byte that arrived, and the
//!   client resumes from there.
//! - The inner limit is the app's own business: uploads never wait for the
//!   app to be ready.
//!
//! `cargo run --example tower`, then upload with
//! `Authorization: Bearer let-me-in` to `http://127.0.0.1:3000/files/`.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use tower::ServiceBuilder;
use tower_http::timeout::TimeoutLayer;
use tower_http::validate_request::ValidateRequestHeaderLayer;
use tower_service::Service;
use tower_tus::body::TusBody;
use tower_tus::{Config, TusLayer};

#[path = "hyper.rs"]
#[allow(dead_code)]
pub mod plain;

/// The token every request but `OPTIONS` must carry.
pub const TOKEN: &str = "Bearer let-me-in";

/// How the stack is tuned.
pub struct Limits {
    /// Requests in flight at once, uploads included.
    pub requests: usize,
    /// Requests in flight at once in the app behind the uploads.
    pub app_requests: usize,
    /// How long any request may run.
    pub timeout: Duration,
}

/// The app's own answer for everything that is not an upload; `/slow`
/// takes a while.
async fn app(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() == "/slow" {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(Response::new(Full::new(Bytes::from_static(
        b"hello from the app\n",
    ))))
}

// tower-http's `ValidateRequest` takes the refusal as a whole response.
#[allow(clippy::result_large_err)]
fn authorized(req: &mut Request<Incoming>) -> Result<(), Response<TusBody<Full<Bytes>>>> {
    if req.method() == Method::OPTIONS
        || req
            .headers()
            .get("authorization")
            .is_some_and(|v| v == TOKEN)
    {
        return Ok(());
    }
    let mut res = Response::new(TusBody::inner(Full::new(Bytes::from_static(
        b"missing or wrong credentials\n",
    ))));
    *res.status_mut() = StatusCode::UNAUTHORIZED;
    Err(res)
}

/// The stack over uploads configured by `config`.
pub fn stack(
    config: Config,
    limits: Limits,
) -> impl Service<
    Request<Incoming>,
    Response = Response<TusBody<Full<Bytes>>>,
    Error = Infallible,
    Future: Send,
> + Clone
+ Send
+ 'static {
    ServiceBuilder::new()
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.timeout,
        ))
        .concurrency_limit(limits.requests)
        .layer(ValidateRequestHeaderLayer::custom(authorized))
        .layer(TusLayer::new(config))
        .concurrency_limit(limits.app_requests)
        .service_fn(app)
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut composer = tower_tus::StoreComposer::new();
    tower_tus::store::FileStore::new("./uploads").use_in(&mut composer);
    let limits = Limits {
        requests: 256,
        app_requests: 16,
        timeout: Duration::from_secs(600),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("uploads at http://{}/files/", listener.local_addr()?);
    plain::serve(listener, stack(Config::new(composer), limits)).await;
    Ok(())
}
