use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Until when a lock is known to be exclusive: a lock kept by a lease in a
/// shared backend is, on the holder's clock, only as good as its last
/// confirmed renewal.
///
/// The locker moves the lease on after every renewal the backend confirmed
/// (counted from when the renewal was sent); a holder that checks
/// [`has_run_out`](Self::has_run_out) before it starts a write never starts
/// one under a lease that expired, also when the process was stopped past
/// it (SIGSTOP, a debugger) and the renewal never got to run. The clock is
/// the monotonic one, which does not count the time a suspended machine
/// sleeps; a write already on its way when the lease runs out is the
/// store's to cut short ([`LockWatch::gone`](super::LockWatch::gone)).
///
/// ```
/// use std::time::Duration;
/// use tower_tus::lock::Lease;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let lease = Lease::new(Duration::from_secs(10));
/// assert!(!lease.has_run_out());
/// tokio::time::advance(Duration::from_secs(11)).await;
/// assert!(lease.has_run_out());
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Lease(Arc<State>);

#[derive(Debug)]
struct State {
    epoch: Instant,
    /// Nanoseconds after `epoch`.
    until: AtomicU64,
    /// Ended for good: no renewal brings it back.
    ended: AtomicBool,
}

impl Lease {
    /// A lease valid for `valid_for` from now.
    pub fn new(valid_for: Duration) -> Self {
        let epoch = Instant::now();
        Lease(Arc::new(State {
            epoch,
            until: AtomicU64::new(nanos(valid_for)),
            ended: AtomicBool::new(false),
        }))
    }

    /// Makes the lease valid until `until`, if that is later than it was
    /// and the lease has not ended.
    pub fn extend_to(&self, until: Instant) {
        if self.0.ended.load(Ordering::SeqCst) {
            return;
        }
        let at = nanos(until.saturating_duration_since(self.0.epoch));
        self.0.until.fetch_max(at, Ordering::SeqCst);
    }

    /// Ends the lease now, for good.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_tus::lock::Lease;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let lease = Lease::new(Duration::from_secs(10));
    /// lease.end();
    /// lease.extend_to(tokio::time::Instant::now() + Duration::from_secs(60));
    /// assert!(lease.has_run_out());
    /// # }
    /// ```
    pub fn end(&self) {
        self.0.ended.store(true, Ordering::SeqCst);
        self.0.until.store(0, Ordering::SeqCst);
    }

    /// The instant the lease runs out.
    pub fn valid_until(&self) -> Instant {
        let until = Duration::from_nanos(self.0.until.load(Ordering::SeqCst));
        self.0.epoch.checked_add(until).unwrap_or(self.0.epoch)
    }

    /// Whether the lease has run out.
    pub fn has_run_out(&self) -> bool {
        self.0.ended.load(Ordering::SeqCst) || Instant::now() >= self.valid_until()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
