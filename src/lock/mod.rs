//! One writer per upload: the `Locker` extension and its in-memory implementation.
//!
//! A PATCH, DELETE or final concatenation holds its upload's lock. A second
//! request for a locked upload (typically a client that reconnected while
//! its old, half-dead request still hangs) does not simply wait: it asks the
//! holder to release. The holder stops reading its body, keeps what arrived,
//! answers, and drops its [`UploadLock`]; the newcomer then proceeds.
//!
//! ```
//! use std::time::Duration;
//! use tower_tus::lock::{Locker, MemoryLocker};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let locker = MemoryLocker::new();
//! let first = locker.lock("abc", Duration::from_secs(1)).await.unwrap();
//! let releaser = tokio::spawn({
//!     let signal = first.release_signal();
//!     async move {
//!         signal.requested().await; // the holder sees the request ...
//!         drop(first);              // ... and lets go
//!     }
//! });
//! let second = locker.lock("abc", Duration::from_secs(1)).await.unwrap();
//! releaser.await.unwrap();
//! drop(second);
//! # }
//! ```

mod memory;
mod release;

pub use memory::MemoryLocker;
pub use release::ReleaseSignal;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::BoxError;

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The holder did not release within the allowed time.
    #[error("timed out waiting for the upload's lock")]
    Timeout,
    /// The locking backend failed.
    #[error("locker failed: {0}")]
    Other(BoxError),
}

/// Exclusive locks per upload id.
///
/// ```
/// use std::time::Duration;
/// use tower_tus::lock::{LockError, Locker, MemoryLocker};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let locker = MemoryLocker::new();
/// let held = locker.lock("a", Duration::from_secs(1)).await.unwrap();
/// // The holder ignores the request to let go: the second request times out.
/// let second = locker.lock("a", Duration::from_millis(50)).await;
/// assert!(matches!(second, Err(LockError::Timeout)));
/// assert!(held.release_signal().is_requested());
/// # }
/// ```
#[async_trait]
pub trait Locker: Send + Sync + 'static {
    /// Takes the lock of upload `id`, asking a current holder to release it,
    /// and waiting at most `timeout` for that.
    async fn lock(&self, id: &str, timeout: Duration) -> Result<UploadLock, LockError>;
}

/// A held lock. Dropping it unlocks.
///
/// ```
/// use tower_tus::lock::{ReleaseSignal, UploadLock};
///
/// let lock = UploadLock::new(ReleaseSignal::new(), || println!("unlocked"));
/// drop(lock); // prints "unlocked"
/// ```
pub struct UploadLock {
    release: ReleaseSignal,
    unlock: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl UploadLock {
    /// A lock whose release requests arrive on `release` and which runs
    /// `unlock` when dropped. For implementors of [`Locker`].
    pub fn new(release: ReleaseSignal, unlock: impl FnOnce() + Send + Sync + 'static) -> Self {
        UploadLock {
            release,
            unlock: Some(Box::new(unlock)),
        }
    }

    /// The signal another request raises to ask this holder to let go.
    pub fn release_signal(&self) -> ReleaseSignal {
        self.release.clone()
    }
}

impl Drop for UploadLock {
    fn drop(&mut self) {
        if let Some(unlock) = self.unlock.take() {
            unlock();
        }
    }
}

impl fmt::Debug for UploadLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadLock")
            .field("release_requested", &self.release.is_requested())
            .finish()
    }
}
