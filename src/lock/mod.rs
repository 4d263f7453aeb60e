//! One writer per upload: the [`Locker`] trait, held [`UploadLock`]s, and
//! the lockers that ship with the crate.
//!
//! A request says how it wants a lock ([`LockMode`]). A PATCH, DELETE or
//! HEAD *takes over*: a second request for a locked upload (typically a
//! client that reconnected while its old, half-dead request still hangs)
//! asks the holder to release. The holder stops reading its body, keeps what
//! arrived, answers, and releases; the newcomer then proceeds, so the offset
//! a HEAD tells is everything kept, also while a cut request is still
//! storing its last bytes. Background
//! work (the expiry sweep, eviction) only *tries*, so it never interrupts a
//! writer; completing a final upload *waits*.
//!
//! ```
//! use std::time::Duration;
//! use tower_tus::lock::{LockMode, Locker, MemoryLocker};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let locker = MemoryLocker::new();
//! let first = locker.lock("abc", LockMode::TakeOver, Duration::from_secs(1)).await.unwrap();
//! let releaser = tokio::spawn(async move {
//!     first.release_requested().raised().await; // the holder sees the request ...
//!     first.release().await;                      // ... and lets go
//! });
//! let second = locker.lock("abc", LockMode::TakeOver, Duration::from_secs(1)).await.unwrap();
//! releaser.await.unwrap();
//! second.release().await;
//! # }
//! ```

#[cfg(feature = "etcd")]
mod etcd;
#[cfg(feature = "file-store")]
mod file;
mod lease;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod signal;
#[cfg(any(feature = "redis", feature = "etcd"))]
mod table;
mod upload_lock;
mod watch;

#[cfg(feature = "etcd")]
pub use etcd::{EtcdLocker, EtcdLockerBuilder};
#[cfg(feature = "file-store")]
pub use file::FileLocker;
pub use lease::Lease;
pub use memory::MemoryLocker;
#[cfg(feature = "redis")]
pub use redis::{RedisLocker, RedisLockerBuilder};
pub use signal::Signal;
pub use upload_lock::{Unlock, UploadLock};
pub use watch::LockWatch;

use std::time::Duration;

use async_trait::async_trait;

use crate::error::BoxError;

/// How a request takes an upload's lock.
///
/// ```
/// use std::time::Duration;
/// use tower_tus::lock::{LockError, LockMode, Locker, MemoryLocker};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let locker = MemoryLocker::new();
/// let held = locker.lock("a", LockMode::Wait, Duration::from_secs(1)).await.unwrap();
/// // Waiting does not ask the holder to let go.
/// let waited = locker.lock("a", LockMode::Wait, Duration::from_millis(20)).await;
/// assert!(matches!(waited, Err(LockError::Timeout)));
/// assert!(!held.release_requested().is_raised());
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockMode {
    /// Ask the holder to release, then wait for it (a reconnecting client).
    TakeOver,
    /// Wait for the holder to finish, without asking.
    Wait,
    /// Take the lock only if it is free right now.
    Try,
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// [`LockMode::Try`] found the lock held.
    #[error("the upload is locked by another request")]
    Busy,
    /// The holder did not release within the allowed time.
    #[error("timed out waiting for the upload's lock")]
    Timeout,
    /// The locking backend cannot be reached right now.
    #[error("locker unavailable: {0}")]
    Unavailable(BoxError),
    /// The locking backend failed.
    #[error("locker failed: {0}")]
    Other(BoxError),
}

/// Exclusive locks per upload id.
///
/// ```
/// use std::time::Duration;
/// use tower_tus::lock::{LockError, LockMode, Locker, MemoryLocker};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let locker = MemoryLocker::new();
/// let held = locker.lock("a", LockMode::Wait, Duration::from_secs(1)).await.unwrap();
/// let busy = locker.lock("a", LockMode::Try, Duration::ZERO).await;
/// assert!(matches!(busy, Err(LockError::Busy)));
/// // The holder ignores the request to let go: the newcomer times out.
/// let second = locker.lock("a", LockMode::TakeOver, Duration::from_millis(50)).await;
/// assert!(matches!(second, Err(LockError::Timeout)));
/// assert!(held.release_requested().is_raised());
/// # }
/// ```
#[async_trait]
pub trait Locker: Send + Sync + 'static {
    /// Takes the lock of upload `id` the way `mode` says, waiting at most
    /// `timeout` (ignored by [`LockMode::Try`]).
    async fn lock(
        &self,
        id: &str,
        mode: LockMode,
        timeout: Duration,
    ) -> Result<UploadLock, LockError>;

    /// Asks every holder of a lock of this locker to let go: at shutdown,
    /// running uploads stop reading, keep what arrived and answer.
    fn release_all(&self) {}
}
