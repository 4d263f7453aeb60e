use std::io::{self, Read, Seek};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use tokio::task::JoinHandle;

use crate::error::BoxError;

/// How much of a file one blocking read takes.
const FILE_READ: u64 = 1024 * 1024;

/// The bytes a store answers a download with.
///
/// ```
/// use http_body::Body;
/// use tower_tus::body::ContentBody;
///
/// let body = ContentBody::from_bytes("abc");
/// assert_eq!(body.size_hint().exact(), Some(3));
/// ```
pub struct ContentBody {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    File {
        file: Option<std::fs::File>,
        remaining: u64,
        reading: Option<JoinHandle<(std::fs::File, io::Result<Vec<u8>>)>>,
    },
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

impl ContentBody {
    /// Bytes already in memory.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        ContentBody {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// `len` bytes of `file` from `start`, read on the blocking pool a
    /// megabyte at a time. A file that ends early is an error.
    pub fn from_file(mut file: std::fs::File, start: u64, len: u64) -> io::Result<Self> {
        if start > 0 {
            file.seek(io::SeekFrom::Start(start))?;
        }
        Ok(ContentBody {
            kind: Kind::File {
                file: Some(file),
                remaining: len,
                reading: None,
            },
        })
    }

    /// Any body (an object store's response, say).
    pub fn new<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        ContentBody {
            kind: Kind::Boxed(body.map_err(Into::into).boxed_unsync()),
        }
    }
}

impl std::fmt::Debug for ContentBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentBody")
            .field("size_hint", &self.size_hint())
            .finish()
    }
}

impl Body for ContentBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.kind {
            Kind::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Kind::Boxed(body) => Pin::new(body).poll_frame(cx),
            Kind::File {
                file,
                remaining,
                reading,
            } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                if reading.is_none() {
                    let Some(f) = file.take() else {
                        return Poll::Ready(Some(Err("download file lost".into())));
                    };
                    let want = (*remaining).min(FILE_READ);
                    *reading = Some(tokio::task::spawn_blocking(move || {
                        let mut buf = Vec::with_capacity(want as usize);
                        let result = (&f).take(want).read_to_end(&mut buf).map(|_| buf);
                        (f, result)
                    }));
                }
                let handle = reading.as_mut().expect("a read is in flight");
                let joined = ready!(Pin::new(handle).poll(cx));
                *reading = None;
                let (f, result) = match joined {
                    Ok(done) => done,
                    Err(e) => return Poll::Ready(Some(Err(e.into()))),
                };
                *file = Some(f);
                match result {
                    Err(e) => Poll::Ready(Some(Err(e.into()))),
                    Ok(buf) if buf.is_empty() => {
                        *remaining = 0;
                        Poll::Ready(Some(Err("upload data ended early".into())))
                    }
                    Ok(buf) => {
                        *remaining -= buf.len() as u64;
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(data) => data.is_none(),
            Kind::File { remaining, .. } => *remaining == 0,
            Kind::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(data) => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            Kind::File { remaining, .. } => SizeHint::with_exact(*remaining),
            Kind::Boxed(body) => body.size_hint(),
        }
    }
}
