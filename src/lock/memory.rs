use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{LockError, Locker, ReleaseSignal, UploadLock};
use crate::composer::StoreComposer;

/// Upload locks for one process, kept in memory.
///
/// ```
/// use tower_tus::{StoreComposer, lock::MemoryLocker, store::MemoryStore};
///
/// let mut composer = StoreComposer::new();
/// MemoryStore::new().use_in(&mut composer);
/// MemoryLocker::new().use_in(&mut composer);
/// assert!(composer.capabilities().locker);
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryLocker {
    held: Arc<Mutex<HashMap<String, Held>>>,
    next_token: Arc<AtomicU64>,
}

#[derive(Debug)]
struct Held {
    token: u64,
    release: ReleaseSignal,
    unlocked: Arc<Notify>,
}

impl MemoryLocker {
    /// A locker with no locks held.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers this locker with `composer`.
    pub fn use_in(&self, composer: &mut StoreComposer) {
        composer.use_locker(self.clone());
    }

    /// Asks every holder to let go: at shutdown, running uploads stop
    /// reading, keep what arrived and answer.
    pub fn release_all(&self) {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        for h in held.values() {
            h.release.request();
        }
    }

    fn try_take(&self, id: &str) -> Result<UploadLock, (u64, Arc<Notify>)> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = held.get(id) {
            h.release.request();
            return Err((h.token, h.unlocked.clone()));
        }
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let release = ReleaseSignal::new();
        let unlocked = Arc::new(Notify::new());
        held.insert(
            id.to_owned(),
            Held {
                token,
                release: release.clone(),
                unlocked: unlocked.clone(),
            },
        );
        let map = self.held.clone();
        let id = id.to_owned();
        Ok(UploadLock::new(release, move || {
            let mut held = map.lock().unwrap_or_else(|e| e.into_inner());
            if held.get(&id).is_some_and(|h| h.token == token) {
                held.remove(&id);
            }
            drop(held);
            unlocked.notify_waiters();
        }))
    }

    fn still_held(&self, id: &str, token: u64) -> bool {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.get(id).is_some_and(|h| h.token == token)
    }
}

#[async_trait]
impl Locker for MemoryLocker {
    async fn lock(&self, id: &str, timeout: Duration) -> Result<UploadLock, LockError> {
        let deadline = Instant::now() + timeout;
        loop {
            let (token, unlocked) = match self.try_take(id) {
                Ok(lock) => return Ok(lock),
                Err(holder) => holder,
            };
            let notified = unlocked.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // The holder may have let go between `try_take` and `enable`.
            if !self.still_held(id, token) {
                continue;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(LockError::Timeout);
            }
        }
    }
}
