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
}
