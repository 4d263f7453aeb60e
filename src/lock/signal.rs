use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// A one-way flag that any number of tasks may wait on: how a lock holder
/// learns that another request asks it to let go, or that its lock was lost.
///
/// ```
/// use tower_tus::lock::Signal;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let signal = Signal::new();
/// // Any number of tasks wait on one signal, and all of them wake.
/// let waiters: Vec<_> = (0..3)
///     .map(|_| {
///         let signal = signal.clone();
///         tokio::spawn(async move { signal.raised().await })
///     })
///     .collect();
/// tokio::task::yield_now().await;
/// assert!(!signal.is_raised());
/// signal.raise();
/// for waiter in waiters {
///     waiter.await.unwrap();
/// }
/// assert!(signal.is_raised());
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Signal(Arc<State>);

#[derive(Debug, Default)]
struct State {
    raised: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Signal {
    /// A signal not yet raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the signal and wakes every waiter.
    pub fn raise(&self) {
        self.0.raised.store(true, Ordering::SeqCst);
        let wakers = std::mem::take(&mut *self.0.wakers.lock().unwrap_or_else(|e| e.into_inner()));
        for waker in wakers {
            waker.wake();
        }
    }

    /// Whether the signal was raised.
    pub fn is_raised(&self) -> bool {
        self.0.raised.load(Ordering::SeqCst)
    }

    /// Ready once the signal is raised.
    pub fn poll_raised(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_raised() {
            return Poll::Ready(());
        }
        {
            let mut wakers = self.0.wakers.lock().unwrap_or_else(|e| e.into_inner());
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
        }
        if self.is_raised() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Completes once the signal is raised.
    pub async fn raised(&self) {
        poll_fn(|cx| self.poll_raised(cx)).await
    }
}
