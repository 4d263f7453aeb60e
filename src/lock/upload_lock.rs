use std::fmt;
use std::future::Future;
use std::pin::Pin;

use super::{Lease, LockWatch, Signal};

/// What a locker runs to let go of a lock: work that must happen at once
/// goes in the closure, slow work in the future it returns (which a dropped
/// lock spawns on the runtime).
///
/// ```
/// use tower_tus::lock::Unlock;
///
/// let unlock: Unlock = Box::new(|| Box::pin(async { /* remove the lock file */ }));
/// # let _ = unlock;
/// ```
pub type Unlock = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A held lock.
///
/// It carries the signals its holder watches: [`release_requested`](Self::release_requested),
/// raised when another request asks for the lock (a reconnecting client),
/// and [`lost`](Self::lost), raised when the lock stopped being exclusive (a
/// lease that expired, a lock file taken by another process). Its
/// [`fencing_token`](Self::fencing_token) grows with every acquisition of
/// the same upload, so a store may refuse a writer holding an older one.
/// A lock kept by a lease in a shared backend carries that [`Lease`]: once
/// it has run out, the lock counts as lost whether or not the locker has
/// noticed.
///
/// Let go with [`release`](Self::release); dropping the lock releases it
/// too, on the current tokio runtime.
///
/// ```
/// use tower_tus::lock::{Signal, UploadLock};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let lock = UploadLock::new(Signal::new(), Signal::new(), 7, Box::new(|| Box::pin(async { println!("unlocked") })));
/// assert_eq!(lock.fencing_token(), 7);
/// lock.release().await; // prints "unlocked"
/// # }
/// ```
pub struct UploadLock {
    release: Signal,
    lost: Signal,
    token: u64,
    lease: Option<Lease>,
    unlock: Option<Unlock>,
}

impl UploadLock {
    /// A lock watching `release` and `lost`, with fencing token `token`,
    /// which runs `unlock` when let go. For implementors of
    /// [`Locker`](super::Locker).
    pub fn new(release: Signal, lost: Signal, token: u64, unlock: Unlock) -> Self {
        UploadLock {
            release,
            lost,
            token,
            lease: None,
            unlock: Some(unlock),
        }
    }

    /// This lock, exclusive only until `lease` runs out.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_tus::lock::{Lease, Signal, UploadLock};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let lease = Lease::new(Duration::from_secs(5));
    /// let lock = UploadLock::new(Signal::new(), Signal::new(), 1, Box::new(|| Box::pin(async {})))
    ///     .with_lease(lease);
    /// assert!(!lock.is_lost());
    /// tokio::time::advance(Duration::from_secs(6)).await;
    /// assert!(lock.is_lost());
    /// assert!(lock.lost().is_raised());
    /// # }
    /// ```
    #[must_use]
    pub fn with_lease(mut self, lease: Lease) -> Self {
        self.lease = Some(lease);
        self
    }

    /// The lease this lock is exclusive under, if it has one.
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// Raised when another request asks this holder to let go.
    pub fn release_requested(&self) -> &Signal {
        &self.release
    }

    /// Raised when the lock is no longer exclusive.
    pub fn lost(&self) -> &Signal {
        &self.lost
    }

    /// Whether the lock was lost (its lease, if any, ran out). A lease seen
    /// to have run out raises [`lost`](Self::lost).
    pub fn is_lost(&self) -> bool {
        self.watch().is_lost()
    }

    /// A handle telling whether this lock still holds, for other tasks.
    pub fn watch(&self) -> LockWatch {
        LockWatch::new(self.lost.clone(), self.lease.clone())
    }

    /// A number that grows with every acquisition of this upload's lock.
    pub fn fencing_token(&self) -> u64 {
        self.token
    }

    /// Lets go of the lock and waits until it is free for others.
    pub async fn release(mut self) {
        if let Some(unlock) = self.unlock.take() {
            unlock().await;
        }
    }
}

impl Drop for UploadLock {
    fn drop(&mut self) {
        let Some(unlock) = self.unlock.take() else {
            return;
        };
        // What must happen at once happens in the call; the rest runs on
        // the runtime, if there is one.
        let rest = unlock();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(rest);
            }
            Err(_) => tracing::debug!("upload lock dropped outside a tokio runtime"),
        }
    }
}

impl fmt::Debug for UploadLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadLock")
            .field("token", &self.token)
            .field("release_requested", &self.release.is_raised())
            .field("lost", &self.lost.is_raised())
            .finish()
    }
}
