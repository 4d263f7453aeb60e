use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// A one-way flag by which a waiting request asks a lock holder to let go.
///
/// ```
/// use tower_tus::lock::ReleaseSignal;
///
/// let signal = ReleaseSignal::new();
/// assert!(!signal.is_requested());
/// signal.clone().request();
/// assert!(signal.is_requested());
/// ```
#[derive(Clone, Debug, Default)]
pub struct ReleaseSignal(Arc<State>);

#[derive(Debug, Default)]
struct State {
    requested: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl ReleaseSignal {
    /// A signal not yet raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the signal and wakes the holder.
    pub fn request(&self) {
        self.0.requested.store(true, Ordering::SeqCst);
        let waker = self
            .0
            .waker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether release was requested.
    pub fn is_requested(&self) -> bool {
        self.0.requested.load(Ordering::SeqCst)
    }

    /// Ready once release is requested. One task at a time may poll this.
    pub fn poll_requested(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_requested() {
            return Poll::Ready(());
        }
        *self.0.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        if self.is_requested() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Completes once release is requested.
    pub async fn requested(&self) {
        poll_fn(|cx| self.poll_requested(cx)).await
    }
}
