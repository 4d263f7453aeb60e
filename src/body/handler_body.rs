use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, ReadBuf};

use crate::error::BoxError;

const READ_CHUNK: usize = 64 * 1024;

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
        Reader { reader: Box<dyn AsyncRead + Send + Unpin>, remaining: u64 },
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

    /// Exactly `len` bytes read from `reader`; a reader that ends early is an error.
    pub fn reader(reader: Box<dyn AsyncRead + Send + Unpin>, len: u64) -> Self {
        HandlerBody {
            kind: Kind::Reader {
                reader,
                remaining: len,
            },
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
            KindProj::Reader { reader, remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let want = (*remaining).min(READ_CHUNK as u64) as usize;
                let mut buf = vec![0u8; want];
                let mut read_buf = ReadBuf::new(&mut buf);
                match Pin::new(reader).poll_read(cx, &mut read_buf) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(err)) => Poll::Ready(Some(Err(err.into()))),
                    Poll::Ready(Ok(())) => {
                        let n = read_buf.filled().len();
                        if n == 0 {
                            *remaining = 0;
                            return Poll::Ready(Some(Err("upload data ended early".into())));
                        }
                        *remaining -= n as u64;
                        buf.truncate(n);
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full { data } => data.is_none(),
            Kind::Reader { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Reader { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}
