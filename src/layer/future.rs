use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::body::TusBody;
use crate::handler::HandlerFuture;

pin_project! {
    /// The response future of [`TusService`](super::TusService): the inner
    /// service's future, or the upload handler's.
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Handler { #[pin] future: HandlerFuture },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn inner(future: F) -> Self {
        ResponseFuture {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn handler(future: HandlerFuture) -> Self {
        ResponseFuture {
            kind: Kind::Handler { future },
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<TusBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => {
                let res = ready!(future.poll(cx))?;
                Poll::Ready(Ok(res.map(TusBody::inner)))
            }
            KindProj::Handler { future } => {
                let res = match ready!(future.poll(cx)) {
                    Ok(res) => res,
                    Err(never) => match never {},
                };
                Poll::Ready(Ok(res.map(TusBody::handler)))
            }
        }
    }
}
