//! The file locker: tusd's lock files, take-over through `.stop` files,
//! dead holders, lost locks and fencing tokens.

#![cfg(feature = "file-store")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::{Instant, sleep, timeout};
use tower_tus::lock::{FileLocker, LockError, LockMode, Locker};

fn lock_file(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.lock"))
}

fn stop_file(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.stop"))
}

fn our_pid() -> String {
    format!("{}\n", std::process::id())
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn lock_file_holds_our_pid_while_held() {
    let dir = tempfile::tempdir().unwrap();
    let locker = FileLocker::new(dir.path());
    let lock = locker
        .lock("abc", LockMode::Try, Duration::ZERO)
        .await
        .unwrap();
    let path = lock_file(dir.path(), "abc");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), our_pid());
    // Only the lock file, and the one source file of this process that
    // every lock file of it links to.
    let source = format!(".tusd-lock.{}", std::process::id());
    assert_eq!(
        names_in(dir.path()),
        vec![source.clone(), "abc.lock".to_owned()]
    );
    lock.release().await;
    assert!(!path.exists());
    assert_eq!(names_in(dir.path()), vec![source]);
}

#[tokio::test]
async fn creates_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a").join("b");
    let locker = FileLocker::new(&nested);
    assert_eq!(locker.dir(), nested.as_path());
    let lock = locker
        .lock("abc", LockMode::Try, Duration::ZERO)
        .await
        .unwrap();
    assert!(lock_file(&nested, "abc").exists());
    lock.release().await;
}

#[tokio::test]
async fn two_instances_exclude_each_other_and_take_over() {
    let dir = tempfile::tempdir().unwrap();
    let a = FileLocker::new(dir.path());
    let b = FileLocker::new(dir.path());
    let held = a
        .lock("up", LockMode::TakeOver, Duration::from_secs(1))
        .await
        .unwrap();

    let busy = b.lock("up", LockMode::Try, Duration::ZERO).await;
    assert!(matches!(busy, Err(LockError::Busy)), "{busy:?}");
    assert!(!held.release_requested().is_raised());

    let taker = tokio::spawn({
        let b = b.clone();
        async move {
            b.lock("up", LockMode::TakeOver, Duration::from_secs(5))
                .await
        }
    });
    timeout(Duration::from_secs(1), held.release_requested().raised())
        .await
        .expect("the holder was asked to release within a second");
    assert!(stop_file(dir.path(), "up").exists());
    assert!(!taker.is_finished());

    held.release().await;
    assert!(!stop_file(dir.path(), "up").exists());

    let second = timeout(Duration::from_secs(2), taker)
        .await
        .expect("the taker got the lock")
        .unwrap()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(lock_file(dir.path(), "up")).unwrap(),
        our_pid()
    );
    // The request that got it the lock does not ask it to let go again.
    sleep(Duration::from_millis(250)).await;
    assert!(!second.release_requested().is_raised());
    assert!(!stop_file(dir.path(), "up").exists());
    second.release().await;
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn lock_of_a_dead_process_is_taken_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = lock_file(dir.path(), "gone");
    // Above Linux's largest possible PID, so no such process runs.
    std::fs::write(&path, "999999999\n").unwrap();
    let locker = FileLocker::new(dir.path());
    let lock = locker
        .lock("gone", LockMode::Try, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), our_pid());
    lock.release().await;
    assert!(!path.exists());
}

#[tokio::test]
async fn invalid_pid_is_a_dead_owner() {
    let dir = tempfile::tempdir().unwrap();
    let path = lock_file(dir.path(), "junk");
    std::fs::write(&path, "not a pid\n").unwrap();
    let locker = FileLocker::new(dir.path());
    let lock = locker
        .lock("junk", LockMode::Try, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), our_pid());
    lock.release().await;
}

#[tokio::test]
async fn our_pid_left_by_an_earlier_process_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let path = lock_file(dir.path(), "mine");
    // No locker of this process holds it, so an earlier process with our
    // PID left it behind.
    std::fs::write(&path, our_pid()).unwrap();
    let locker = FileLocker::new(dir.path());
    let lock = locker
        .lock("mine", LockMode::Try, Duration::ZERO)
        .await
        .unwrap();
    lock.release().await;
    assert!(!path.exists());
}

#[tokio::test]
async fn wait_times_out_without_asking_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let a = FileLocker::new(dir.path());
    let b = FileLocker::new(dir.path());
    let held = a.lock("w", LockMode::Try, Duration::ZERO).await.unwrap();

    let started = Instant::now();
    let waited = b
        .lock("w", LockMode::Wait, Duration::from_millis(200))
        .await;
    assert!(matches!(waited, Err(LockError::Timeout)), "{waited:?}");
    assert!(started.elapsed() >= Duration::from_millis(200));

    // Long enough for the holder to have seen a `.stop` file.
    sleep(Duration::from_millis(250)).await;
    assert!(!held.release_requested().is_raised());
    assert!(!stop_file(dir.path(), "w").exists());
    held.release().await;
}

#[tokio::test]
async fn wait_gets_the_lock_once_released() {
    let dir = tempfile::tempdir().unwrap();
    let a = FileLocker::new(dir.path());
    let b = FileLocker::new(dir.path());
    let held = a.lock("w", LockMode::Try, Duration::ZERO).await.unwrap();
    let waiter =
        tokio::spawn(async move { b.lock("w", LockMode::Wait, Duration::from_secs(5)).await });
    sleep(Duration::from_millis(120)).await;
    assert!(!waiter.is_finished());
    held.release().await;
    let lock = timeout(Duration::from_secs(1), waiter)
        .await
        .expect("the waiter got the lock")
        .unwrap()
        .unwrap();
    lock.release().await;
}

#[tokio::test]
async fn removed_lock_file_is_a_lost_lock() {
    let dir = tempfile::tempdir().unwrap();
    let locker = FileLocker::new(dir.path());
    let held = locker
        .lock("l", LockMode::Try, Duration::ZERO)
        .await
        .unwrap();
    assert!(!held.is_lost());
    std::fs::remove_file(lock_file(dir.path(), "l")).unwrap();
    timeout(Duration::from_secs(1), held.lost().raised())
        .await
        .expect("the holder saw its lock lost within a second");
    assert!(held.is_lost());

    // Someone else holds it now: letting go of the lost lock leaves theirs.
    let other = FileLocker::new(dir.path());
    let current = other
        .lock("l", LockMode::Try, Duration::ZERO)
        .await
        .unwrap();
    held.release().await;
    assert!(lock_file(dir.path(), "l").exists());
    let busy = locker.lock("l", LockMode::Try, Duration::ZERO).await;
    assert!(matches!(busy, Err(LockError::Busy)), "{busy:?}");
    current.release().await;
}

#[tokio::test]
async fn replaced_lock_file_is_a_lost_lock() {
    let dir = tempfile::tempdir().unwrap();
    let locker = FileLocker::new(dir.path());
    let held = locker
        .lock("r", LockMode::Try, Duration::ZERO)
        .await
        .unwrap();
    let tmp = dir.path().join("replacement");
    std::fs::write(&tmp, "1\n").unwrap();
    std::fs::rename(&tmp, lock_file(dir.path(), "r")).unwrap();
    timeout(Duration::from_secs(1), held.lost().raised())
        .await
        .expect("the holder saw its lock replaced within a second");
    held.release().await;
    // Not ours any more, so not removed.
    assert_eq!(
        std::fs::read_to_string(lock_file(dir.path(), "r")).unwrap(),
        "1\n"
    );
}

#[tokio::test]
async fn a_dropped_lock_is_freed_without_waiting_for_anyone() {
    let dir = tempfile::tempdir().unwrap();
    let a = FileLocker::new(dir.path());
    let b = FileLocker::new(dir.path());
    let held = a.lock("d", LockMode::Try, Duration::ZERO).await.unwrap();
    drop(held);
    // Released on the runtime right away: a waiter gets it well within the
    // time a holder's poll would take.
    let lock = b
        .lock("d", LockMode::Wait, Duration::from_millis(500))
        .await
        .unwrap();
    lock.release().await;
}

#[tokio::test]
async fn fencing_tokens_grow() {
    let dir = tempfile::tempdir().unwrap();
    let a = FileLocker::new(dir.path());
    let b = FileLocker::new(dir.path());
    let first = a.lock("f", LockMode::Try, Duration::ZERO).await.unwrap();
    let t1 = first.fencing_token();
    first.release().await;
    let second = a.lock("f", LockMode::Try, Duration::ZERO).await.unwrap();
    let t2 = second.fencing_token();
    second.release().await;
    let third = b.lock("f", LockMode::Try, Duration::ZERO).await.unwrap();
    let t3 = third.fencing_token();
    third.release().await;
    assert!(t2 > t1, "{t2} > {t1}");
    assert!(t3 > t2, "{t3} > {t2}");
}

#[tokio::test]
async fn release_all_asks_every_holder() {
    let dir = tempfile::tempdir().unwrap();
    let locker = FileLocker::new(dir.path());
    let x = locker
        .lock("x", LockMode::Try, Duration::ZERO)
        .await
        .unwrap();
    let y = locker
        .lock("y", LockMode::Try, Duration::ZERO)
        .await
        .unwrap();
    locker.release_all();
    assert!(x.release_requested().is_raised());
    assert!(y.release_requested().is_raised());
    x.release().await;
    y.release().await;
}

#[tokio::test]
async fn invalid_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let locker = FileLocker::new(dir.path());
    for id in ["", "..", "a/b", ".hidden"] {
        let result = locker.lock(id, LockMode::Try, Duration::ZERO).await;
        assert!(
            matches!(result, Err(LockError::Other(_))),
            "{id}: {result:?}"
        );
    }
    assert!(names_in(dir.path()).is_empty());
}

#[tokio::test]
async fn many_lockers_racing_for_one_upload_never_hold_it_together() {
    let dir = tempfile::tempdir().unwrap();
    let inside = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let locker = FileLocker::new(dir.path());
        let inside = inside.clone();
        tasks.push(tokio::spawn(async move {
            let mode = if i % 2 == 0 {
                LockMode::Wait
            } else {
                LockMode::TakeOver
            };
            for _ in 0..5 {
                let lock = locker
                    .lock("shared", mode, Duration::from_secs(20))
                    .await
                    .unwrap();
                assert_eq!(inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst), 0);
                tokio::time::sleep(Duration::from_millis(2)).await;
                inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                lock.release().await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(!dir.path().join("shared.lock").exists());
}

#[tokio::test]
async fn a_lock_request_given_up_midway_leaves_nothing_locked() {
    let dir = tempfile::tempdir().unwrap();
    let a = FileLocker::new(dir.path());
    for _ in 0..20 {
        // Dropped while its file work runs on the blocking pool.
        let _ = tokio::time::timeout(
            Duration::ZERO,
            a.lock("given-up", LockMode::TakeOver, Duration::from_secs(1)),
        )
        .await;
    }
    let b = FileLocker::new(dir.path());
    let lock = b
        .lock("given-up", LockMode::Wait, Duration::from_secs(2))
        .await
        .expect("nothing was left held");
    lock.release().await;
}

#[tokio::test]
async fn a_lock_stays_exclusive_when_the_source_file_is_removed_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let a = FileLocker::new(dir.path());
    let b = FileLocker::new(dir.path());
    let held = a.lock("src", LockMode::Try, Duration::ZERO).await.unwrap();
    std::fs::remove_file(
        dir.path()
            .join(format!(".tusd-lock.{}", std::process::id())),
    )
    .unwrap();
    // Another locker of this process makes a new source, and still sees
    // the lock held rather than stale.
    for locker in [&a, &b] {
        let busy = locker.lock("src", LockMode::Try, Duration::ZERO).await;
        assert!(matches!(busy, Err(LockError::Busy)), "{busy:?}");
    }
    assert!(lock_file(dir.path(), "src").exists());
    let other = b
        .lock("other", LockMode::Try, Duration::ZERO)
        .await
        .unwrap();
    held.release().await;
    assert!(!lock_file(dir.path(), "src").exists());
    let again = b.lock("src", LockMode::Try, Duration::ZERO).await.unwrap();
    again.release().await;
    other.release().await;
}
