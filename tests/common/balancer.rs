//! A load balancer on 127.0.0.1 for tests of many servers: each request
//! goes to the next backend in turn, streamed both ways, with its `Host`
//! kept (so upload URLs name the balancer) and `X-Forwarded-For` set.
//! It can cut the body of the first PATCH after a number of bytes, as a
//! dropped connection would.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A running balancer, stopped when dropped.
pub struct Balancer {
    pub addr: SocketAddr,
    /// How many requests each backend got.
    pub served: Arc<Vec<AtomicUsize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Balancer {
    /// `http://<addr>/files/`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/files/", self.addr)
    }
}

/// Balances over `backends`, round-robin per request; with `cut_first_patch_at`,
/// the first PATCH's body breaks off after that many bytes.
pub async fn start(backends: Vec<SocketAddr>, cut_first_patch_at: Option<u64>) -> Balancer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client: Client<_, BoxBody<Bytes, BoxError>> =
        Client::builder(TokioExecutor::new()).build_http();
    let next = Arc::new(AtomicUsize::new(0));
    let served: Arc<Vec<AtomicUsize>> =
        Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect());
    let cut_done = Arc::new(AtomicBool::new(false));
    let backends = Arc::new(backends);
    let counts = served.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let (client, next, backends, counts, cut_done) = (
                client.clone(),
                next.clone(),
                backends.clone(),
                counts.clone(),
                cut_done.clone(),
            );
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let i = next.fetch_add(1, Ordering::SeqCst) % backends.len();
                    counts[i].fetch_add(1, Ordering::SeqCst);
                    let cut = (req.method() == http::Method::PATCH
                        && cut_first_patch_at.is_some()
                        && !cut_done.swap(true, Ordering::SeqCst))
                    .then_some(cut_first_patch_at)
                    .flatten();
                    forward(client.clone(), backends[i], peer, req, cut)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Balancer { addr, served, task }
}

async fn forward(
    client: Client<hyper_util::client::legacy::connect::HttpConnector, BoxBody<Bytes, BoxError>>,
    backend: SocketAddr,
    peer: SocketAddr,
    req: Request<Incoming>,
    cut: Option<u64>,
) -> Result<Response<BoxBody<Bytes, BoxError>>, Infallible> {
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    parts.uri = format!("http://{backend}{path}").parse().unwrap();
    parts
        .headers
        .insert("x-forwarded-for", peer.ip().to_string().parse().unwrap());
    let body: BoxBody<Bytes, BoxError> = match cut {
        Some(at) => Cut {
            inner: body,
            left: at,
            cut: None,
        }
        .boxed(),
        None => body.map_err(|e| -> BoxError { e.into() }).boxed(),
    };
    match client.request(Request::from_parts(parts, body)).await {
        Ok(res) => Ok(res.map(|b| b.map_err(|e| -> BoxError { e.into() }).boxed())),
        Err(e) => {
            let mut res = Response::new(
                http_body_util::Full::new(Bytes::from(format!("backend failed: {e}\n")))
                    .map_err(|never| match never {})
                    .boxed(),
            );
            *res.status_mut() = StatusCode::BAD_GATEWAY;
            Ok(res)
        }
    }
}

/// A body that breaks off after `left` bytes: a moment after they went
/// out, so that the backend has every one of them when the cut comes.
struct Cut {
    inner: Incoming,
    left: u64,
    cut: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for Cut {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.left == 0 {
            let cut = self
                .cut
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(300))));
            return match cut.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err("the connection was cut".into()))),
                Poll::Pending => Poll::Pending,
            };
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(mut data) => {
                    if data.len() as u64 > self.left {
                        data.truncate(self.left as usize);
                    }
                    self.left -= data.len() as u64;
                    Poll::Ready(Some(Ok(Frame::data(data))))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
