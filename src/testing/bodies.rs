//! Request bodies for exercising stores.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};

/// A body of separate frames with no declared length, like a chunked request.
///
/// ```
/// use http_body::Body;
/// use tower_tus::testing::Frames;
///
/// assert_eq!(Frames::new(&[b"ab", b"c"]).size_hint().exact(), None);
/// ```
#[derive(Debug)]
pub struct Frames(VecDeque<Bytes>);

impl Frames {
    /// The frames `parts`, in order.
    pub fn new(parts: &[&[u8]]) -> Self {
        Frames(parts.iter().map(|p| Bytes::copy_from_slice(p)).collect())
    }
}

impl Body for Frames {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

/// Yields its frames, then fails like a connection that went away.
///
/// ```
/// use tower_tus::testing::Breaking;
///
/// let _body = Breaking::new(&[b"abc"]);
/// ```
#[derive(Debug)]
pub struct Breaking(VecDeque<Bytes>);

impl Breaking {
    /// The frames `parts`, then a connection reset.
    pub fn new(parts: &[&[u8]]) -> Self {
        Breaking(parts.iter().map(|p| Bytes::copy_from_slice(p)).collect())
    }
}

impl Body for Breaking {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(match self.0.pop_front() {
            Some(b) => Ok(Frame::data(b)),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset",
            )),
        }))
    }
}

/// A body fed from a channel, ending when the sender is dropped: for bodies
/// that arrive slowly.
///
/// ```
/// use tower_tus::testing::Channel;
///
/// let (tx, body) = Channel::new();
/// drop((tx, body));
/// ```
#[derive(Debug)]
pub struct Channel(tokio::sync::mpsc::Receiver<Bytes>);

impl Channel {
    /// A sender of frames and the body they arrive in.
    pub fn new() -> (tokio::sync::mpsc::Sender<Bytes>, Channel) {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        (tx, Channel(rx))
    }
}

impl Body for Channel {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

/// Deterministic test bytes.
///
/// ```
/// assert_eq!(tower_tus::testing::pattern(3), vec![0, 31, 62]);
/// ```
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}
