use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::UploadHandler;
use super::route::Target;
use crate::body::HandlerBody;
use crate::error::BoxError;

/// The future of [`UploadHandler`]'s `Service` implementation.
pub struct HandlerFuture {
    inner: Pin<Box<dyn Future<Output = Response<HandlerBody>> + Send>>,
}

impl HandlerFuture {
    pub(crate) fn new(
        future: impl Future<Output = Response<HandlerBody>> + Send + 'static,
    ) -> Self {
        HandlerFuture {
            inner: Box::pin(future),
        }
    }
}

impl std::fmt::Debug for HandlerFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandlerFuture")
    }
}

impl Future for HandlerFuture {
    type Output = Result<Response<HandlerBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx).map(Ok)
    }
}

impl UploadHandler {
    /// Where a request the handler serves on its own points. A path under
    /// the base path is read relative to it; any other path is taken as
    /// already relative to where the handler is mounted (axum's
    /// `nest_service` strips the prefix).
    fn standalone_target(&self, path: &str) -> Target {
        Target::under(&self.inner.config.base_path, path)
            .or_else(|| Target::under("/", path))
            .unwrap_or(Target::Invalid)
    }

    /// Where a request points when it is under the base path.
    pub(crate) fn target(&self, path: &str) -> Option<Target> {
        Target::under(&self.inner.config.base_path, path)
    }
}

impl<B> Service<Request<B>> for UploadHandler
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<HandlerBody>;
    type Error = Infallible;
    type Future = HandlerFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> HandlerFuture {
        let target = self.standalone_target(req.uri().path());
        let handler = self.clone();
        HandlerFuture::new(handler.handle(req, target))
    }
}
