use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;
use tower::util::Oneshot;
use tower_service::Service;

use crate::body::TusBody;
use crate::handler::HandlerFuture;

pin_project! {
    /// The response future of [`TusService`](super::TusService): the inner
    /// service's (readiness, then its call), or the upload handler's.
    pub struct ResponseFuture<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        kind: Kind<S, Req>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S, Req>
    where
        S: Service<Req>,
    {
        Inner { #[pin] future: Oneshot<S, Req> },
        Handler { #[pin] future: HandlerFuture },
    }
}

impl<S: Service<Req>, Req> ResponseFuture<S, Req> {
    pub(crate) fn inner(future: Oneshot<S, Req>) -> Self {
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

impl<S: Service<Req>, Req> std::fmt::Debug for ResponseFuture<S, Req> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<S, Req, B> Future for ResponseFuture<S, Req>
where
    S: Service<Req, Response = Response<B>>,
{
    type Output = Result<Response<TusBody<B>>, S::Error>;

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
