use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::HandlerBody;
use crate::error::BoxError;

pin_project! {
    /// The response body of [`TusService`](crate::TusService): the inner
    /// service's body passed through untouched, or the upload handler's.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body::Body;
    /// use http_body_util::Full;
    /// use tower_tus::body::TusBody;
    ///
    /// let body = TusBody::inner(Full::new(Bytes::from_static(b"app")));
    /// assert_eq!(body.size_hint().exact(), Some(3));
    /// ```
    pub struct TusBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Handler { #[pin] body: HandlerBody },
    }
}

impl<B> TusBody<B> {
    /// The inner service's body.
    pub fn inner(body: B) -> Self {
        TusBody {
            kind: Kind::Inner { body },
        }
    }

    /// A body made by the upload handler.
    pub fn handler(body: HandlerBody) -> Self {
        TusBody {
            kind: Kind::Handler { body },
        }
    }
}

/// An empty body, for layers that answer on their own (tower-http's
/// `Timeout` makes its response from `Default`).
impl<B> Default for TusBody<B> {
    fn default() -> Self {
        TusBody::handler(HandlerBody::empty())
    }
}

impl<B> std::fmt::Debug for TusBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Inner { .. } => "Inner",
            Kind::Handler { .. } => "Handler",
        };
        f.debug_struct("TusBody").field("kind", &kind).finish()
    }
}

impl<B> Body for TusBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(Into::into))),
            KindProj::Handler { body } => body.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Handler { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Handler { body } => body.size_hint(),
        }
    }
}
