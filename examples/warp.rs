//! Resumable uploads beside the routes of a warp 0.4 app: the warp filter
//! becomes a tower service (`warp::service`), the `TusLayer` wraps it, and
//! hyper serves the whole.
//!
//! `cargo run --example warp`, then upload with any tus client to
//! `http://127.0.0.1:3000/files/`.

use std::convert::Infallible;

use http::{Request, Response};
use hyper::body::Incoming;
use tower_layer::Layer;
use tower_service::Service;
use tower_tus::body::TusBody;
use tower_tus::store::FileStore;
use tower_tus::{Config, StoreComposer, TusLayer};
use warp::Filter;

/// The warp app's own routes: `/` and `/hello/NAME`.
fn routes() -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    let index = warp::path::end().map(|| "hello from the warp app\n");
    let hello = warp::path!("hello" / String).map(|name: String| format!("hello, {name}\n"));
    index.or(hello)
}

/// The warp app with uploads at `/files/`, stored in `dir`.
pub fn app(
    dir: &std::path::Path,
) -> impl Service<
    Request<Incoming>,
    Response = Response<
        TusBody<
            impl http_body::Body<
                Data = bytes::Bytes,
                Error: Into<Box<dyn std::error::Error + Send + Sync>>,
            > + Send
            + 'static,
        >,
    >,
    Error = Infallible,
    Future: Send,
> + Clone
+ Send
+ 'static {
    let mut composer = StoreComposer::new();
    FileStore::new(dir).use_in(&mut composer);
    TusLayer::new(Config::new(composer)).layer(warp::service(routes()))
}

/// Serves `app` on `listener`, each connection on a task of its own.
pub async fn serve<S, B>(listener: tokio::net::TcpListener, app: S)
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
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
    println!("uploads at http://{}/files/", listener.local_addr()?);
    serve(listener, app("./uploads".as_ref())).await;
    Ok(())
}
