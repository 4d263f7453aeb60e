use super::{Lease, Signal};

/// Whether a held lock still holds, as a handle of its own: for the work a
/// writer hands to other tasks (a part upload that starts later), which
/// must not begin once the lock is gone.
///
/// ```
/// use tower_tus::lock::{Signal, UploadLock};
///
/// let lost = Signal::new();
/// let lock = UploadLock::new(Signal::new(), lost.clone(), 1, Box::new(|| Box::pin(async {})));
/// let watch = lock.watch();
/// assert!(!watch.is_lost());
/// lost.raise();
/// assert!(watch.is_lost());
/// # drop(lock);
/// ```
#[derive(Clone, Debug, Default)]
pub struct LockWatch {
    lost: Option<Signal>,
    lease: Option<Lease>,
}

impl LockWatch {
    /// A watch of a lock that signals `lost` and, if it has one, is
    /// exclusive until `lease` runs out.
    pub fn new(lost: Signal, lease: Option<Lease>) -> Self {
        LockWatch {
            lost: Some(lost),
            lease,
        }
    }

    /// Whether the lock was lost, or its lease ran out (which raises its
    /// lost signal). A watch of no lock is never lost.
    pub fn is_lost(&self) -> bool {
        let Some(lost) = &self.lost else {
            return false;
        };
        if self.lease.as_ref().is_some_and(Lease::has_run_out) {
            lost.raise();
        }
        lost.is_raised()
    }

    /// The lost signal, if this watches a lock.
    pub fn lost_signal(&self) -> Option<&Signal> {
        self.lost.as_ref()
    }

    /// Completes once the lock is lost or its lease ran out (never, for a
    /// watch of no lock): a store races its writes against it, so one still
    /// on its way then is cut short.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_tus::lock::{Lease, Signal, UploadLock};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lock = UploadLock::new(Signal::new(), Signal::new(), 1, Box::new(|| Box::pin(async {})))
    ///     .with_lease(Lease::new(Duration::from_secs(5)));
    /// let watch = lock.watch();
    /// let write = tokio::time::sleep(Duration::from_secs(60)); // a slow write
    /// tokio::select! {
    ///     () = write => unreachable!(),
    ///     () = watch.gone() => {}
    /// }
    /// assert!(lock.is_lost());
    /// # }
    /// ```
    pub async fn gone(&self) {
        let Some(lost) = &self.lost else {
            return std::future::pending().await;
        };
        // The lease may be renewed while waiting: look again when it was
        // due to run out.
        while !self.is_lost() {
            match &self.lease {
                Some(lease) => tokio::select! {
                    () = lost.raised() => {}
                    () = tokio::time::sleep_until(lease.valid_until()) => {}
                },
                None => lost.raised().await,
            }
        }
    }
}
