//! How long a connection may go without a request in progress.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The two limits on a connection between requests.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// The longest a connection waits with no request begun.
    pub idle: Duration,
    /// The longest a request head may take from its first byte.
    pub read_header: Duration,
}

/// Which limit ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expired {
    Idle,
    ReadHeader,
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// No request in progress, no byte of the next one read.
    Idle { since: Instant },
    /// The first bytes of the next request have arrived, its head has not.
    Head { since: Instant },
    /// This many requests are being served; no limit runs.
    Busy { requests: usize },
}

struct Shared {
    phase: Mutex<Phase>,
    /// Set while idle, so reads in the middle of a request skip the lock.
    idle: AtomicBool,
    changed: Notify,
}

/// A connection's phase, moved by its reads and by the requests it
/// serves, and watched by [`ConnectionClock::expired`].
///
/// Hyper's own header timeout starts when it waits for a head and so
/// closes idle keep-alive connections as early as slow heads; this one
/// gives each its own limit. Time spent inside a request (a PATCH body
/// trickling in, a lock being waited for) never counts: the handler's
/// network timeout bounds that.
#[derive(Clone)]
pub struct ConnectionClock(Arc<Shared>);

impl ConnectionClock {
    pub fn new() -> Self {
        ConnectionClock(Arc::new(Shared {
            phase: Mutex::new(Phase::Idle {
                since: Instant::now(),
            }),
            idle: AtomicBool::new(true),
            changed: Notify::new(),
        }))
    }

    fn set(&self, f: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.0.phase.lock().unwrap_or_else(|e| e.into_inner());
        *phase = f(*phase);
        self.0
            .idle
            .store(matches!(*phase, Phase::Idle { .. }), Ordering::Release);
        drop(phase);
        self.0.changed.notify_one();
    }

    fn bytes_read(&self) {
        if self.0.idle.load(Ordering::Acquire) {
            self.set(|phase| match phase {
                Phase::Idle { .. } => Phase::Head {
                    since: Instant::now(),
                },
                other => other,
            });
        }
    }

    /// Marks a request as begun; the returned guard ends it when dropped,
    /// which for a request served whole is once its response was written.
    pub fn request(&self) -> RequestInProgress {
        self.set(|phase| match phase {
            Phase::Busy { requests } => Phase::Busy {
                requests: requests + 1,
            },
            Phase::Idle { .. } | Phase::Head { .. } => Phase::Busy { requests: 1 },
        });
        RequestInProgress(self.clone())
    }

    /// Resolves once the connection has been idle, or reading one head,
    /// for longer than `timeouts` allow.
    pub async fn expired(&self, timeouts: Timeouts) -> Expired {
        loop {
            let changed = self.0.changed.notified();
            let phase = *self.0.phase.lock().unwrap_or_else(|e| e.into_inner());
            let (deadline, why) = match phase {
                Phase::Busy { .. } => {
                    changed.await;
                    continue;
                }
                Phase::Idle { since } => (since + timeouts.idle, Expired::Idle),
                Phase::Head { since } => (since + timeouts.read_header, Expired::ReadHeader),
            };
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep_until(deadline) => return why,
            }
        }
    }

    /// `io`, telling this clock when it reads.
    pub fn wrap<I>(&self, io: I) -> ClockedIo<I> {
        ClockedIo {
            io,
            clock: self.clone(),
        }
    }
}

/// One request in progress on a [`ConnectionClock`].
pub struct RequestInProgress(ConnectionClock);

impl Drop for RequestInProgress {
    fn drop(&mut self) {
        self.0.set(|phase| match phase {
            Phase::Busy { requests } if requests > 1 => Phase::Busy {
                requests: requests - 1,
            },
            _ => Phase::Idle {
                since: Instant::now(),
            },
        });
    }
}

pin_project! {
    /// A connection's transport, reporting its reads to a [`ConnectionClock`].
    pub struct ClockedIo<I> {
        #[pin]
        io: I,
        clock: ConnectionClock,
    }
}

impl<I: AsyncRead> AsyncRead for ClockedIo<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let polled = this.io.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.clock.bytes_read();
        }
        polled
    }
}

impl<I: AsyncWrite> AsyncWrite for ClockedIo<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

pin_project! {
    /// A response body that keeps its request in progress until it is
    /// written out or dropped.
    pub struct ClockedBody<B> {
        #[pin]
        body: B,
        request: Option<RequestInProgress>,
    }
}

impl<B> ClockedBody<B> {
    pub fn new(body: B, request: RequestInProgress) -> Self {
        ClockedBody {
            body,
            request: Some(request),
        }
    }
}

impl<B> Body for ClockedBody<B>
where
    B: Body,
    B::Data: Buf,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.body.poll_frame(cx);
        if let Poll::Ready(None) = polled {
            // The response is written: the connection is idle from here,
            // not from whenever hyper drops the body.
            this.request.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Timeouts = Timeouts {
        idle: Duration::from_secs(60),
        read_header: Duration::from_secs(10),
    };

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_expires_after_the_idle_timeout() {
        let clock = ConnectionClock::new();
        let start = Instant::now();
        assert_eq!(clock.expired(LIMITS).await, Expired::Idle);
        assert_eq!(start.elapsed(), LIMITS.idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_begun_must_be_whole_within_the_read_header_timeout() {
        let clock = ConnectionClock::new();
        tokio::time::advance(Duration::from_secs(30)).await;
        let begun = Instant::now();
        clock.bytes_read();
        assert_eq!(clock.expired(LIMITS).await, Expired::ReadHeader);
        assert_eq!(begun.elapsed(), LIMITS.read_header);
    }

    #[tokio::test(start_paused = true)]
    async fn no_limit_runs_while_a_request_is_served_and_idle_restarts_after() {
        let clock = ConnectionClock::new();
        clock.bytes_read();
        let request = clock.request();
        let watch = tokio::spawn({
            let clock = clock.clone();
            async move { clock.expired(LIMITS).await }
        });
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!watch.is_finished(), "a request in progress never expires");
        let second = clock.request();
        drop(request);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!watch.is_finished(), "one of two requests is still served");
        let ended = Instant::now();
        drop(second);
        assert_eq!(watch.await.unwrap(), Expired::Idle);
        assert_eq!(ended.elapsed(), LIMITS.idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_written_whole_ends_its_request() {
        use http_body_util::{BodyExt, Full};
        let clock = ConnectionClock::new();
        let mut body =
            ClockedBody::new(Full::new(bytes::Bytes::from_static(b"ok")), clock.request());
        assert!(matches!(
            *clock.0.phase.lock().unwrap(),
            Phase::Busy { requests: 1 }
        ));
        while body.frame().await.is_some() {}
        assert!(matches!(*clock.0.phase.lock().unwrap(), Phase::Idle { .. }));
    }
}
