use std::fmt;
use std::future::Future;
use std::pin::Pin;

use super::Signal;

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
            unlock: Some(unlock),
        }
    }

    /// Raised when another request asks this holder to let go.
    pub fn release_requested(&self) -> &Signal {
        &self.release
    }

    /// Raised when the lock is no longer exclusive.
    pub fn lost(&self) -> &Signal {
        &self.lost
    }

    /// Whether the lock was lost.
    pub fn is_lost(&self) -> bool {
        self.lost.is_raised()
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
