use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{LockError, LockMode, Locker, Signal, UploadLock};
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
    release: Signal,
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

    /// Takes the lock if free; else, per `mode`, asks the holder to let go
    /// and tells how to wait for it.
    fn try_take(&self, id: &str, mode: LockMode) -> Result<UploadLock, (u64, Arc<Notify>)> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = held.get(id) {
            if mode == LockMode::TakeOver {
                h.release.raise();
            }
            return Err((h.token, h.unlocked.clone()));
        }
        let token = self.next_token.fetch_add(1, Ordering::Relaxed) + 1;
        let release = Signal::new();
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
        Ok(UploadLock::new(
            release,
            Signal::new(),
            token,
            Box::new(move || {
                let mut held = map.lock().unwrap_or_else(|e| e.into_inner());
                if held.get(&id).is_some_and(|h| h.token == token) {
                    held.remove(&id);
                }
                drop(held);
                unlocked.notify_waiters();
                Box::pin(async {})
            }),
        ))
    }

    fn still_held(&self, id: &str, token: u64) -> bool {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.get(id).is_some_and(|h| h.token == token)
    }

    /// Whether upload `id` is locked right now.
    pub fn is_locked(&self, id: &str) -> bool {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(id)
    }
}

#[async_trait]
impl Locker for MemoryLocker {
    async fn lock(
        &self,
        id: &str,
        mode: LockMode,
        timeout: Duration,
    ) -> Result<UploadLock, LockError> {
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600));
        loop {
            let (token, unlocked) = match self.try_take(id, mode) {
                Ok(lock) => return Ok(lock),
                Err(_) if mode == LockMode::Try => return Err(LockError::Busy),
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

    fn release_all(&self) {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        for h in held.values() {
            h.release.raise();
        }
    }
}
