//! The locker conformance suite's cases: what every [`Locker`] does, seen
//! from several instances over one backend, as several servers see it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{LockerBackend, LockerCase};
use crate::lock::{LockError, LockMode, Locker, UploadLock};

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        pub(super) const ALL: &[(&str, LockerCase)] = &[
            $((stringify!($name), |backend| -> Pin<Box<dyn Future<Output = ()> + Send>> {
                Box::pin($name(backend))
            })),*
        ];
    };
}

crate::__locker_conformance_cases!((cases)());

/// How long a step that should happen at once may take on a busy machine.
const PROMPTLY: Duration = Duration::from_secs(2);

/// An upload id no other case (or other run over the same backend) uses.
fn fresh_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!(
        "locker-case-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// How soon a lock let go must be free for the next: well within a lease,
/// so that a lock left to expire does not pass for one let go.
fn freed_within(backend: &Arc<dyn LockerBackend>) -> Duration {
    backend
        .lease()
        .map_or(PROMPTLY, |lease| (lease / 2).min(PROMPTLY))
}

async fn take(locker: &Arc<dyn Locker>, id: &str, mode: LockMode) -> UploadLock {
    locker
        .lock(id, mode, PROMPTLY)
        .await
        .unwrap_or_else(|e| panic!("lock {id} ({mode:?}): {e}"))
}

async fn is_busy(locker: &Arc<dyn Locker>, id: &str) -> bool {
    match locker.lock(id, LockMode::Try, Duration::ZERO).await {
        Ok(lock) => {
            lock.release().await;
            false
        }
        Err(LockError::Busy) => true,
        Err(e) => panic!("try-lock {id}: {e}"),
    }
}

async fn a_held_lock_excludes_every_instance(backend: Arc<dyn LockerBackend>) {
    let (one, two) = (backend.instance().await, backend.instance().await);
    let id = fresh_id();
    let held = take(&one, &id, LockMode::Try).await;
    assert!(
        is_busy(&two, &id).await,
        "another instance took a held lock"
    );
    assert!(
        is_busy(&one, &id).await,
        "the same instance took a held lock twice"
    );
    assert!(
        !held.release_requested().is_raised(),
        "a try-lock asked the holder to let go"
    );
    held.release().await;
    let again = take(&two, &id, LockMode::Try).await;
    again.release().await;
}

async fn locks_of_different_uploads_are_independent(backend: Arc<dyn LockerBackend>) {
    let (one, two) = (backend.instance().await, backend.instance().await);
    let (a, b) = (fresh_id(), fresh_id());
    let first = take(&one, &a, LockMode::Try).await;
    let second = take(&two, &b, LockMode::Try).await;
    assert!(!first.release_requested().is_raised());
    first.release().await;
    second.release().await;
}

async fn take_over_asks_the_holder_and_gets_the_lock_once_it_lets_go(
    backend: Arc<dyn LockerBackend>,
) {
    let (one, two) = (backend.instance().await, backend.instance().await);
    let id = fresh_id();
    let held = take(&one, &id, LockMode::Try).await;
    let newcomer = tokio::spawn({
        let id = id.clone();
        async move {
            two.lock(&id, LockMode::TakeOver, Duration::from_secs(10))
                .await
        }
    });
    tokio::time::timeout(PROMPTLY, held.release_requested().raised())
        .await
        .expect("the holder was not asked to let go");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !newcomer.is_finished(),
        "the newcomer got the lock while it was held"
    );
    held.release().await;
    let taken = tokio::time::timeout(freed_within(&backend), newcomer)
        .await
        .expect("the newcomer did not get the lock soon after its release")
        .unwrap()
        .unwrap();
    assert!(!taken.is_lost());
    taken.release().await;
}

async fn take_over_times_out_when_the_holder_keeps_the_lock(backend: Arc<dyn LockerBackend>) {
    let (one, two) = (backend.instance().await, backend.instance().await);
    let id = fresh_id();
    let held = take(&one, &id, LockMode::Try).await;
    let refused = two
        .lock(&id, LockMode::TakeOver, Duration::from_millis(400))
        .await;
    assert!(matches!(refused, Err(LockError::Timeout)), "{refused:?}");
    assert!(held.release_requested().is_raised());
    assert!(
        !held.is_lost(),
        "a refused take-over broke the holder's lock"
    );
    held.release().await;
}

async fn wait_never_asks_and_times_out(backend: Arc<dyn LockerBackend>) {
    let (one, two) = (backend.instance().await, backend.instance().await);
    let id = fresh_id();
    let held = take(&one, &id, LockMode::Try).await;
    let waited = two
        .lock(&id, LockMode::Wait, Duration::from_millis(400))
        .await;
    assert!(matches!(waited, Err(LockError::Timeout)), "{waited:?}");
    assert!(
        !held.release_requested().is_raised(),
        "waiting asked the holder to let go"
    );
    held.release().await;
}

async fn wait_gets_the_lock_once_the_holder_lets_go(backend: Arc<dyn LockerBackend>) {
    let (one, two) = (backend.instance().await, backend.instance().await);
    let id = fresh_id();
    let held = take(&one, &id, LockMode::Try).await;
    let waiter = tokio::spawn({
        let id = id.clone();
        async move { two.lock(&id, LockMode::Wait, Duration::from_secs(10)).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiter.is_finished(), "the waiter got a held lock");
    held.release().await;
    let taken = tokio::time::timeout(freed_within(&backend), waiter)
        .await
        .expect("the waiter did not get the lock soon after its release")
        .unwrap()
        .unwrap();
    taken.release().await;
}

async fn a_dropped_lock_is_freed(backend: Arc<dyn LockerBackend>) {
    let (one, two) = (backend.instance().await, backend.instance().await);
    let id = fresh_id();
    drop(take(&one, &id, LockMode::Try).await);
    let taken = two
        .lock(&id, LockMode::Wait, freed_within(&backend))
        .await
        .expect("a dropped lock was not freed soon");
    taken.release().await;
}

async fn a_lock_held_past_its_lease_stays_exclusive(backend: Arc<dyn LockerBackend>) {
    let Some(lease) = backend.lease() else { return };
    let (one, two) = (backend.instance().await, backend.instance().await);
    let id = fresh_id();
    let held = take(&one, &id, LockMode::Try).await;
    tokio::time::sleep(lease * 5 / 2).await;
    assert!(!held.is_lost(), "a renewed lock was reported lost");
    assert!(is_busy(&two, &id).await, "the lease ran out while held");
    held.release().await;
}

async fn a_lock_lost_behind_its_holder_s_back_is_reported_and_its_release_frees_nothing(
    backend: Arc<dyn LockerBackend>,
) {
    let (one, two) = (backend.instance().await, backend.instance().await);
    let id = fresh_id();
    let held = take(&one, &id, LockMode::Try).await;
    if !backend.forget(&id).await {
        held.release().await;
        return;
    }
    let patience = backend.lease().unwrap_or_default() + PROMPTLY;
    tokio::time::timeout(patience, held.lost().raised())
        .await
        .expect("the holder never learnt that its lock was lost");
    assert!(held.is_lost());
    let next = take(&two, &id, LockMode::Try).await;
    assert!(
        next.fencing_token() > held.fencing_token(),
        "the next holder's fencing token does not grow"
    );
    // Only the holder releases its lock: the old one's release must leave
    // the new one's in place.
    held.release().await;
    assert!(
        is_busy(&one, &id).await,
        "a lost lock's release freed the next holder's"
    );
    assert!(!next.is_lost());
    next.release().await;
}

async fn fencing_tokens_grow_with_every_acquisition(backend: Arc<dyn LockerBackend>) {
    let (one, two) = (backend.instance().await, backend.instance().await);
    let id = fresh_id();
    let mut last = 0;
    for locker in [&one, &two, &one, &two] {
        let lock = take(locker, &id, LockMode::Try).await;
        assert!(
            lock.fencing_token() > last,
            "fencing token {} after {last}",
            lock.fencing_token()
        );
        last = lock.fencing_token();
        lock.release().await;
    }
}

async fn release_all_asks_this_instance_s_holders_only(backend: Arc<dyn LockerBackend>) {
    let (one, two) = (backend.instance().await, backend.instance().await);
    let (a, b, c) = (fresh_id(), fresh_id(), fresh_id());
    let first = take(&one, &a, LockMode::Try).await;
    let second = take(&one, &b, LockMode::Try).await;
    let other = take(&two, &c, LockMode::Try).await;
    one.release_all();
    for held in [&first, &second] {
        tokio::time::timeout(PROMPTLY, held.release_requested().raised())
            .await
            .expect("release_all did not ask a holder to let go");
    }
    if backend.separate_instances() {
        // Long enough for a request sent to every instance to arrive.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !other.release_requested().is_raised(),
            "release_all asked another instance's holder"
        );
    }
    for held in [first, second, other] {
        held.release().await;
    }
}

async fn many_take_overs_at_once_each_hold_the_lock_alone(backend: Arc<dyn LockerBackend>) {
    let id = fresh_id();
    let holders = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let locker = backend.instance().await;
        let (id, holders) = (id.clone(), holders.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..3 {
                let lock = locker
                    .lock(&id, LockMode::TakeOver, Duration::from_secs(20))
                    .await
                    .unwrap_or_else(|e| panic!("take-over: {e}"));
                assert_eq!(
                    holders.fetch_add(1, Ordering::SeqCst),
                    0,
                    "two holders at once"
                );
                // Holds until asked, as a writer does, or a moment.
                let _ = tokio::time::timeout(
                    Duration::from_millis(50),
                    lock.release_requested().raised(),
                )
                .await;
                holders.fetch_sub(1, Ordering::SeqCst);
                lock.release().await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}
