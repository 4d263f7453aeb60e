//! What the lockers over a shared backend (Redis, etcd) keep per instance:
//! the locks it holds and the requests waiting for one, where the
//! backend's release requests and unlock messages land, and the loop a
//! request runs to take a lock.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{LockError, LockMode, Signal, UploadLock};

#[derive(Debug, Default)]
pub(super) struct LockTable {
    held: Mutex<HashMap<String, Holder>>,
    waiters: Mutex<HashMap<String, Weak<Notify>>>,
}

#[derive(Debug)]
struct Holder {
    owner: String,
    release: Signal,
}

pub(super) fn guard<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A random name for one locker instance, telling its owners apart from
/// every other instance's.
pub(super) fn instance_name() -> Result<String, LockError> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| LockError::Other(e.to_string().into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `now + d`, or a moment a century away when that overflows.
pub(super) fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// How often a lease of `lease` is renewed: as asked (by default a third
/// of it), never less often than twice per lease.
pub(super) fn renewal_interval(lease: Duration, asked: Option<Duration>) -> Duration {
    asked.unwrap_or(lease / 3).min(lease / 2)
}

/// The longest lease a shared locker takes: anything longer is a mistake.
pub(super) const LONGEST_LEASE: Duration = Duration::from_secs(24 * 3600);

impl LockTable {
    /// Records that this instance holds upload `id`'s lock as `owner`.
    pub(super) fn hold(&self, id: &str, owner: &str, release: Signal) {
        guard(&self.held).insert(
            id.to_owned(),
            Holder {
                owner: owner.to_owned(),
                release,
            },
        );
    }

    /// Forgets `owner`'s hold of upload `id` (a later holder's stays).
    pub(super) fn forget(&self, id: &str, owner: &str) {
        let mut held = guard(&self.held);
        if held.get(id).is_some_and(|h| h.owner == owner) {
            held.remove(id);
        }
    }

    /// A release request for upload `id` came: its holder here, if any,
    /// is asked to let go.
    pub(super) fn ask_holder(&self, id: &str) {
        if let Some(holder) = guard(&self.held).get(id) {
            holder.release.raise();
        }
    }

    /// Asks every holder here to let go.
    pub(super) fn ask_every_holder(&self) {
        for holder in guard(&self.held).values() {
            holder.release.raise();
        }
    }

    /// Upload `id`'s lock was freed: its waiters here try again.
    pub(super) fn wake_waiters(&self, id: &str) {
        if let Some(notify) = guard(&self.waiters).get(id).and_then(Weak::upgrade) {
            notify.notify_waiters();
        }
    }

    /// Every waiter tries again (unlock messages may have been missed).
    pub(super) fn wake_every_waiter(&self) {
        for notify in guard(&self.waiters).values().filter_map(Weak::upgrade) {
            notify.notify_waiters();
        }
    }

    /// What wakes a request waiting for upload `id`'s lock.
    fn waiter(&self, id: &str) -> Arc<Notify> {
        let mut waiters = guard(&self.waiters);
        waiters.retain(|_, w| w.strong_count() > 0);
        if let Some(notify) = waiters.get(id).and_then(Weak::upgrade) {
            return notify;
        }
        let notify = Arc::new(Notify::new());
        waiters.insert(id.to_owned(), Arc::downgrade(&notify));
        notify
    }

    /// Takes upload `id`'s lock the way `mode` says: `try_take` makes one
    /// attempt (`None` while another holds it), `ask` publishes a release
    /// request. Tries again on every unlock message, and every `poll`.
    pub(super) async fn acquire<T, TF, A, AF>(
        &self,
        id: &str,
        mode: LockMode,
        timeout: Duration,
        poll: Duration,
        mut try_take: T,
        mut ask: A,
    ) -> Result<UploadLock, LockError>
    where
        T: FnMut() -> TF,
        TF: Future<Output = Result<Option<UploadLock>, LockError>>,
        A: FnMut() -> AF,
        AF: Future<Output = Result<(), LockError>>,
    {
        let deadline = after(Instant::now(), timeout);
        loop {
            let wake = self.waiter(id);
            let unlocked = wake.notified();
            tokio::pin!(unlocked);
            // Before the attempt, so an unlock right after it is not missed.
            unlocked.as_mut().enable();
            if let Some(lock) = try_take().await? {
                return Ok(lock);
            }
            match mode {
                LockMode::Try => return Err(LockError::Busy),
                // Asked again every round: the holder may have missed a
                // request while its listener reconnected. A holder in this
                // instance hears it at once.
                LockMode::TakeOver => {
                    self.ask_holder(id);
                    ask().await?;
                }
                LockMode::Wait => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(LockError::Timeout);
            }
            let _ = tokio::time::timeout((deadline - now).min(poll), unlocked).await;
        }
    }
}
