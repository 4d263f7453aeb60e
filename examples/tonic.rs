//! One server, one port: a gRPC service (tonic's health service) and tus
//! uploads. gRPC clients speak HTTP/2, tus clients HTTP/1.1 (or HTTP/2);
//! hyper-util's server tells them apart, the `TusLayer` takes the uploads
//! under `/files/`, and every other request reaches tonic's routes.
//!
//! `cargo run --example tonic`, then upload to `http://127.0.0.1:3000/files/`
//! and call `grpc.health.v1.Health/Check` on the same address.

use std::convert::Infallible;

use http::{Request, Response};
use hyper::body::Incoming;
use tonic::service::Routes;
use tower_layer::Layer;
use tower_service::Service;
use tower_tus::body::TusBody;
use tower_tus::store::FileStore;
use tower_tus::{Config, StoreComposer, TusLayer};

/// gRPC health and uploads at `/files/` (stored in `dir`), with the health
/// reporter to change what the service reports.
pub fn app(
    dir: &std::path::Path,
) -> (
    tonic_health::server::HealthReporter,
    impl Service<
        Request<Incoming>,
        Response = Response<TusBody<tonic::body::Body>>,
        Error = Infallible,
        Future: Send,
    > + Clone
    + Send
    + 'static,
) {
    let (reporter, health) = tonic_health::server::health_reporter();
    let grpc = Routes::new(health).prepare();
    let mut composer = StoreComposer::new();
    FileStore::new(dir).use_in(&mut composer);
    (reporter, TusLayer::new(Config::new(composer)).layer(grpc))
}

/// Serves `app` on `listener`: HTTP/1.1 and HTTP/2 on one port.
pub async fn serve<S>(listener: tokio::net::TcpListener, app: S)
where
    S: Service<
            Request<Incoming>,
            Response = Response<TusBody<tonic::body::Body>>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of file descriptors, say: wait rather than spin.
                eprintln!("accept failed: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            // HTTP/1.1 for tus clients, HTTP/2 for gRPC, told apart by the preface.
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
        });
    }
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!(
        "gRPC and uploads (/files/) at http://{}",
        listener.local_addr()?
    );
    let (_reporter, app) = app("./uploads".as_ref());
    serve(listener, app).await;
    Ok(())
}
