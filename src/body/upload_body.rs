use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body::Body;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

use crate::checksum::{Checksum, Expected, MultiHasher, VerifyError};
use crate::error::BoxError;
use crate::headers::UPLOAD_CHECKSUM;
use crate::lock::{LockWatch, Signal, UploadLock};

/// How much a body still reads once a release was requested: more than the
/// client's send buffer, the server's receive buffer and its read buffer
/// hold together, so the last bytes a cut client sent all count.
const RELEASE_DRAIN: u64 = 16 << 20;

/// How long a body asked to release waits for more bytes before it ends: a
/// half-dead client sends none, a cut one's last bytes come without pause.
const RELEASE_QUIET: Duration = Duration::from_millis(100);

/// The reading that goes on after a release request.
struct Drain {
    left: u64,
    quiet: Pin<Box<tokio::time::Sleep>>,
}

/// How the reading of an [`UploadBody`] ended.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use tower_tus::body::{BodyEnd, UploadBody};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut body = UploadBody::new(Full::new(Bytes::from_static(b"abc")), 10);
/// while body.next_chunk().await.is_some() {}
/// assert!(matches!(body.end(), Some(BodyEnd::Complete)));
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum BodyEnd {
    /// The client sent its whole body, and it fit.
    Complete,
    /// The body held more bytes than the upload accepts; what fit was yielded.
    TooLarge,
    /// The body failed before its end (the client went away).
    Failed(BoxError),
    /// Another request asked for this upload's lock; reading stopped.
    ReleaseRequested,
    /// The upload's lock was lost; reading stopped before anything more
    /// could be written under it.
    LockLost,
    /// No data arrived for longer than the network timeout.
    Stalled,
    /// The server decided to stop the upload (a post-receive hook).
    Stopped,
}

/// The data of one PATCH (or POST with data), as a store reads it.
///
/// A stream of chunks, already limited to the bytes the upload still
/// accepts. It never fails: a body that breaks off simply ends, and
/// [`UploadBody::end`] tells why, so a store writes every chunk it is given
/// and keeps every byte that arrived.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use tower_tus::body::{BodyEnd, UploadBody};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut body = UploadBody::new(Full::new(Bytes::from_static(b"hello world")), 5);
/// let mut got = Vec::new();
/// while let Some(chunk) = body.next_chunk().await {
///     got.extend_from_slice(&chunk);
/// }
/// assert_eq!(got, b"hello");
/// assert!(matches!(body.end(), Some(BodyEnd::TooLarge)));
/// # }
/// ```
pub struct UploadBody {
    body: UnsyncBoxBody<Bytes, BoxError>,
    remaining: u64,
    bytes_read: u64,
    release: Option<Signal>,
    /// Once a release was requested: what may still be read.
    draining: Option<Drain>,
    lock: LockWatch,
    fencing_token: Option<u64>,
    stop: Option<Signal>,
    idle: Option<(Duration, Pin<Box<tokio::time::Sleep>>)>,
    progress: Option<Arc<AtomicU64>>,
    trailers: Option<HeaderMap>,
    hasher: Option<MultiHasher>,
    expected: Option<Expected>,
    verdict: Option<Result<(), VerifyError>>,
    quota: Option<Arc<dyn Quota>>,
    quota_exhausted: bool,
    end: Option<BodyEnd>,
}

/// Capacity a store hands out as a body's bytes arrive: how a store with a
/// limit admits a body of unknown length without overshooting it.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use tower_tus::body::{BodyEnd, Quota, UploadBody};
///
/// struct Left(AtomicU64);
///
/// impl Quota for Left {
///     fn take(&self, wanted: u64) -> u64 {
///         let left = self.0.load(Ordering::SeqCst);
///         let granted = left.min(wanted);
///         self.0.store(left - granted, Ordering::SeqCst);
///         granted
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut body = UploadBody::new(Full::new(Bytes::from_static(b"hello world")), u64::MAX);
/// body.set_quota(Arc::new(Left(AtomicU64::new(5))));
/// assert_eq!(body.next_chunk().await.unwrap(), "hello");
/// assert!(body.next_chunk().await.is_none());
/// assert!(body.quota_exhausted());
/// assert!(matches!(body.end(), Some(BodyEnd::TooLarge)));
/// # }
/// ```
pub trait Quota: Send + Sync {
    /// Takes up to `wanted` bytes of capacity; returns how many it granted.
    fn take(&self, wanted: u64) -> u64;
}

impl UploadBody {
    /// Wraps `body`, yielding at most `limit` bytes of it.
    pub fn new<B>(body: B, limit: u64) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        UploadBody {
            body: body.map_err(Into::into).boxed_unsync(),
            remaining: limit,
            bytes_read: 0,
            release: None,
            draining: None,
            lock: LockWatch::default(),
            fencing_token: None,
            stop: None,
            idle: None,
            progress: None,
            trailers: None,
            hasher: None,
            expected: None,
            verdict: None,
            quota: None,
            quota_exhausted: false,
            end: None,
        }
    }

    /// Stops reading when the holder of `lock` is asked to release it
    /// ([`BodyEnd::ReleaseRequested`], once the bytes on their way are read,
    /// as [`UploadBody::with_release_signal`] says) or loses it at once
    /// ([`BodyEnd::LockLost`]: the lost signal, or the lock's lease run
    /// out, looked at before every chunk is handed on), and carries its
    /// fencing token for the store.
    #[must_use]
    pub fn with_lock(mut self, lock: &UploadLock) -> Self {
        self.release = Some(lock.release_requested().clone());
        self.lock = lock.watch();
        self.fencing_token = Some(lock.fencing_token());
        self
    }

    /// Whether the lock this body is written under still holds, as a handle
    /// for the tasks a store hands the body's bytes to: a store writes
    /// nothing once it is lost (a body written under no lock never is).
    pub fn lock_watch(&self) -> LockWatch {
        self.lock.clone()
    }

    /// The fencing token of the lock this body is written under, for stores
    /// that refuse stale writers.
    pub fn fencing_token(&self) -> Option<u64> {
        self.fencing_token
    }

    /// The body must match `expected`: it is hashed as it streams, and the
    /// store stages it until [`verify`](Self::verify) succeeds.
    #[must_use]
    pub fn with_checksum(mut self, expected: Expected) -> Self {
        self.hasher = Some(expected.hasher());
        self.expected = Some(expected);
        self
    }

    /// Whether the store must stage this body until it is verified.
    pub fn needs_verification(&self) -> bool {
        self.expected.is_some()
    }

    /// Checks the body against its expected checksum, once it has ended:
    /// `Ok` only for a body that arrived whole and matches. A body with
    /// nothing to verify is `Ok` once it ended whole. The first verdict is
    /// kept; later calls return it again.
    pub fn verify(&mut self) -> Result<(), VerifyError> {
        if let Some(verdict) = &self.verdict {
            return verdict.clone();
        }
        let verdict = self.judge();
        self.verdict = Some(verdict.clone());
        verdict
    }

    /// The verdict of [`verify`](Self::verify), if it was asked for.
    pub fn verdict(&self) -> Option<&Result<(), VerifyError>> {
        self.verdict.as_ref()
    }

    fn judge(&mut self) -> Result<(), VerifyError> {
        if !matches!(self.end, Some(BodyEnd::Complete)) {
            return Err(VerifyError::Incomplete);
        }
        let expected = match &self.expected {
            None => return Ok(()),
            Some(Expected::Header(c)) => c.clone(),
            Some(Expected::Trailer) => {
                let value = self
                    .trailers
                    .as_ref()
                    .and_then(|t| t.get(UPLOAD_CHECKSUM))
                    .ok_or(VerifyError::MissingTrailer)?;
                let text = value
                    .to_str()
                    .map_err(|_| VerifyError::InvalidTrailer("not text"))?;
                Checksum::parse(text).map_err(|e| match e {
                    crate::error::TusError::InvalidChecksum(why) => {
                        VerifyError::InvalidTrailer(why)
                    }
                    _ => VerifyError::InvalidTrailer("malformed"),
                })?
            }
        };
        if self.hasher.take().is_some_and(|h| h.verify(&expected)) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    /// Yields at most `limit` more bytes (never more than already allowed):
    /// how a store with a quota bounds a body.
    pub fn limit(&mut self, limit: u64) {
        self.remaining = self.remaining.min(limit);
    }

    /// Admits every further chunk through `quota`; a chunk it does not
    /// grant in full is cut, and the body ends with [`BodyEnd::TooLarge`].
    pub fn set_quota(&mut self, quota: Arc<dyn Quota>) {
        self.quota = Some(quota);
    }

    /// Whether the quota ended the body.
    pub fn quota_exhausted(&self) -> bool {
        self.quota_exhausted
    }

    /// How many more bytes the body may yield.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Stops reading as soon as `signal` is raised, ending with [`BodyEnd::Stopped`].
    #[must_use]
    pub fn with_stop_signal(mut self, signal: Signal) -> Self {
        self.stop = Some(signal);
        self
    }

    /// Ends with [`BodyEnd::Stalled`] when no data arrives for `timeout`.
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle = Some((timeout, Box::pin(tokio::time::sleep(timeout))));
        self
    }

    /// Keeps `counter` at the number of bytes yielded so far, for observers
    /// on other tasks.
    #[must_use]
    pub fn with_progress(mut self, counter: Arc<AtomicU64>) -> Self {
        self.progress = Some(counter);
        self
    }

    /// Stops reading once `signal` is raised, ending with
    /// [`BodyEnd::ReleaseRequested`]: bytes still on their way are read
    /// while they come without a pause of 100 ms, up to 16 MiB, so a client
    /// that cut its request and resumed at once loses none of them.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::Full;
    /// use tower_tus::body::UploadBody;
    /// use tower_tus::lock::Signal;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let signal = Signal::new();
    /// let arrived = Full::new(Bytes::from_static(b"arrived"));
    /// let mut body = UploadBody::new(arrived, 100).with_release_signal(signal.clone());
    /// signal.raise();
    /// // The bytes that came before the request are still read.
    /// assert_eq!(body.next_chunk().await.as_deref(), Some(&b"arrived"[..]));
    /// # }
    /// ```
    #[must_use]
    pub fn with_release_signal(mut self, signal: Signal) -> Self {
        self.release = Some(signal);
        self
    }

    /// The next chunk, or `None` once the body has ended for any reason.
    pub async fn next_chunk(&mut self) -> Option<Bytes> {
        poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// A chunk that is available right now without waiting, if any.
    ///
    /// Lets a store gather what has already arrived into one write.
    pub fn ready_chunk(&mut self) -> Option<Bytes> {
        match self.poll_chunk(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(chunk) => chunk,
            Poll::Pending => None,
        }
    }

    /// Polls for the next chunk.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.end.is_some() {
            return Poll::Ready(None);
        }
        if let Some(lost) = self.lock.lost_signal()
            && (lost.poll_raised(cx).is_ready() || self.lock.is_lost())
        {
            self.end = Some(BodyEnd::LockLost);
            return Poll::Ready(None);
        }
        if let Some(release) = &self.release
            && release.poll_raised(cx).is_ready()
        {
            // Bytes on their way when the request came (a cut client's last
            // ones, still in the sockets' buffers) are still read, so a
            // client that resumes at once loses none of them. Reading stops
            // once no more come for a moment, or after a bound when a live
            // client keeps sending.
            let drain = self.draining.get_or_insert_with(|| Drain {
                left: RELEASE_DRAIN,
                quiet: Box::pin(tokio::time::sleep(RELEASE_QUIET)),
            });
            if drain.left == 0 {
                self.end = Some(BodyEnd::ReleaseRequested);
                return Poll::Ready(None);
            }
        }
        if let Some(stop) = &self.stop
            && stop.poll_raised(cx).is_ready()
        {
            self.end = Some(BodyEnd::Stopped);
            return Poll::Ready(None);
        }
        loop {
            let frame = match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => {
                    if let Some(drain) = &mut self.draining
                        && drain.quiet.as_mut().poll(cx).is_ready()
                    {
                        self.end = Some(BodyEnd::ReleaseRequested);
                        return Poll::Ready(None);
                    }
                    if let Some((_, sleep)) = &mut self.idle
                        && sleep.as_mut().poll(cx).is_ready()
                    {
                        self.end = Some(BodyEnd::Stalled);
                        return Poll::Ready(None);
                    }
                    return Poll::Pending;
                }
                Poll::Ready(None) => {
                    self.end = Some(BodyEnd::Complete);
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(err))) => {
                    self.end = Some(BodyEnd::Failed(err));
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            let mut data = match frame.into_data() {
                Ok(data) => data,
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        self.trailers
                            .get_or_insert_with(HeaderMap::new)
                            .extend(trailers);
                    }
                    continue;
                }
            };
            if data.is_empty() {
                continue;
            }
            if data.len() as u64 > self.remaining {
                data.truncate(self.remaining as usize);
                self.end = Some(BodyEnd::TooLarge);
            }
            if let Some(quota) = &self.quota {
                let granted = quota.take(data.len() as u64);
                if granted < data.len() as u64 {
                    data.truncate(granted as usize);
                    self.quota_exhausted = true;
                    self.end = Some(BodyEnd::TooLarge);
                }
            }
            self.remaining -= data.len() as u64;
            self.bytes_read += data.len() as u64;
            if let Some(drain) = &mut self.draining {
                drain.left = drain.left.saturating_sub(data.len() as u64);
                drain
                    .quiet
                    .as_mut()
                    .reset(tokio::time::Instant::now() + RELEASE_QUIET);
            }
            if data.is_empty() {
                return Poll::Ready(None);
            }
            if let Some(hasher) = &mut self.hasher {
                hasher.update(&data);
            }
            if let Some(progress) = &self.progress {
                progress.store(self.bytes_read, Ordering::Relaxed);
            }
            if let Some((timeout, sleep)) = &mut self.idle {
                sleep.as_mut().reset(tokio::time::Instant::now() + *timeout);
            }
            return Poll::Ready(Some(data));
        }
    }

    /// Bytes yielded so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Why reading ended; `None` while it goes on.
    pub fn end(&self) -> Option<&BodyEnd> {
        self.end.as_ref()
    }

    /// Takes the reason reading ended.
    pub fn take_end(&mut self) -> Option<BodyEnd> {
        self.end.take()
    }

    /// HTTP trailers that arrived after the data, if any.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.trailers.as_ref()
    }
}

impl std::fmt::Debug for UploadBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadBody")
            .field("remaining", &self.remaining)
            .field("bytes_read", &self.bytes_read)
            .field("end", &self.end)
            .finish()
    }
}
