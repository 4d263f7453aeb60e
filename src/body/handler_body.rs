use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::ContentBody;
use crate::error::BoxError;

pin_project! {
    /// A response body made by the upload handler: empty, a short text, or a
    /// download streamed from a store.
    ///
    /// ```
    /// use http_body::Body;
    /// use tower_tus::body::HandlerBody;
    ///
    /// assert!(HandlerBody::empty().is_end_stream());
    /// assert_eq!(HandlerBody::full("ok\n").size_hint().exact(), Some(3));
    /// ```
    pub struct HandlerBody {
        #[pin]
        kind: Kind,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind {
        Full { data: Option<Bytes> },
        Content { #[pin] body: ContentBody },
    }
}

impl HandlerBody {
    /// No bytes.
    pub fn empty() -> Self {
        HandlerBody {
            kind: Kind::Full { data: None },
        }
    }

    /// The given bytes.
    pub fn full(data: impl Into<Bytes>) -> Self {
        let data: Bytes = data.into();
        HandlerBody {
            kind: Kind::Full {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }

    /// A download, as a store answers it.
    pub fn content(body: ContentBody) -> Self {
        HandlerBody {
            kind: Kind::Content { body },
        }
    }
}

impl Default for HandlerBody {
    fn default() -> Self {
        Self::empty()
    }
}

impl std::fmt::Debug for HandlerBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerBody")
            .field("size_hint", &self.size_hint())
            .finish()
    }
}

impl Body for HandlerBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            KindProj::Content { body } => body.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full { data } => data.is_none(),
            Kind::Content { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Content { body } => body.size_hint(),
        }
    }
}
