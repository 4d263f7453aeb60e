//! Resumable uploads on a plain hyper server: a `TusLayer` around the app's
//! own tower service, served by hyper-util for HTTP/1.1 and HTTP/2.
//!
//! `cargo run --example hyper`, then upload with any tus client to
//! `http://127.0.0.1:3000/files/`.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tower_layer::Layer;
use tower_service::Service;
use tower_tus::body::TusBody;
use tower_tus::store::FileStore;
use tower_tus::{Config, StoreComposer, TusLayer};

/// The app: its own answer for everything that is not an upload.
async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"hello from the app\n",
    ))))
}

/// The app with uploads at `/files/`, stored in `dir`.
pub fn app(
    dir: &std::path::Path,
) -> impl Service<
    Request<Incoming>,
    Response = Response<TusBody<Full<Bytes>>>,
    Error = Infallible,
    Future: Send,
> + Clone
+ Send
+ 'static {
    let mut composer = StoreComposer::new();
    FileStore::new(dir).use_in(&mut composer);
    TusLayer::new(Config::new(composer)).layer(tower::service_fn(hello))
}

/// Serves `app` on `listener`, each connection on a task of its own.
pub async fn serve<S>(listener: tokio::net::TcpListener, app: S)
where
    S: Service<Request<Incoming>, Response = Response<TusBody<Full<Bytes>>>, Error = Infallible>
        + Clone
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
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
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
