use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower::ServiceExt;
use tower_service::Service;

use super::ResponseFuture;
use crate::body::TusBody;
use crate::error::BoxError;
use crate::handler::{HandlerFuture, UploadHandler};

/// The service made by [`TusLayer`](super::TusLayer).
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use tower::service_fn;
/// use tower_tus::{Config, StoreComposer, TusService, UploadHandler, store::MemoryStore};
///
/// let mut composer = StoreComposer::new();
/// MemoryStore::new().use_in(&mut composer);
/// let app = service_fn(|_req: Request<Full<Bytes>>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::default()))
/// });
/// let svc = TusService::new(app, UploadHandler::new(Config::new(composer)));
/// # let _ = svc;
/// ```
#[derive(Clone, Debug)]
pub struct TusService<S> {
    inner: S,
    handler: UploadHandler,
}

impl<S> TusService<S> {
    /// Wraps `inner`, serving tus requests with `handler`.
    pub fn new(inner: S, handler: UploadHandler) -> Self {
        TusService { inner, handler }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TusService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ReqBody: Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes>,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<TusBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<ReqBody>>;

    /// Always ready: tus requests never reach the inner service, so its
    /// readiness must not hold them back. A request passed through waits
    /// for the inner service's readiness in its own future.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        match self.handler.target(req.uri().path()) {
            Some(target) => {
                let handler = self.handler.clone();
                ResponseFuture::handler(HandlerFuture::new(handler.handle(req, target)))
            }
            None => ResponseFuture::inner(self.inner.clone().oneshot(req)),
        }
    }
}
