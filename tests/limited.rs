//! The size-limited store, over HTTP, around both stores.

mod common;

use std::path::Path;

use common::*;
use http::{Method, StatusCode};
use tower_tus::lock::MemoryLocker;
use tower_tus::store::{FileStore, LimitPolicy, LimitedStore, MemoryStore};
use tower_tus::{Config, StoreComposer, UploadHandler};

fn limited(dir: Option<&Path>, limit: u64, policy: LimitPolicy) -> (UploadHandler, LimitedStore) {
    let mut composer = StoreComposer::new();
    MemoryLocker::new().use_in(&mut composer);
    let store = match dir {
        Some(dir) => LimitedStore::new(limit, FileStore::new(dir)),
        None => LimitedStore::new(limit, MemoryStore::new()),
    };
    let store = store.policy(policy);
    store.use_in(&mut composer);
    (UploadHandler::new(Config::new(composer)), store)
}

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $case() { super::$case(None).await; })*
        }
        mod file {
            $(#[tokio::test] async fn $case() {
                let dir = tempfile::tempdir().unwrap();
                super::$case(Some(dir.path())).await;
            })*
        }
    };
}

on_both!(
    the_oldest_uploads_are_evicted_to_make_room,
    an_upload_bigger_than_the_limit_is_413,
    the_refuse_policy_answers_507_and_evicts_nothing,
    deferred_uploads_reserve_when_their_length_is_declared,
    concurrent_creations_never_overshoot_the_limit,
    termination_gives_the_room_back,
);

async fn the_oldest_uploads_are_evicted_to_make_room(dir: Option<&Path>) {
    let (h, store) = limited(dir, 100, LimitPolicy::EvictOldest);
    let first = create(&h, 40).await;
    let second = create(&h, 40).await;
    let third = create(&h, 40).await;
    assert_eq!(offset(&h, &first).await, None, "the oldest was evicted");
    assert_eq!(offset(&h, &second).await, Some(0));
    assert_eq!(offset(&h, &third).await, Some(0));
    assert_eq!(store.reserved().await, 80);
    let fourth = create(&h, 100).await;
    assert_eq!(offset(&h, &second).await, None);
    assert_eq!(offset(&h, &third).await, None);
    assert_eq!(offset(&h, &fourth).await, Some(0));
}

async fn an_upload_bigger_than_the_limit_is_413(dir: Option<&Path>) {
    let (h, store) = limited(dir, 100, LimitPolicy::EvictOldest);
    let kept = create(&h, 50).await;
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-length", "101")),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(offset(&h, &kept).await, Some(0), "nothing evicted for it");
    assert_eq!(store.reserved().await, 50);
}

async fn the_refuse_policy_answers_507_and_evicts_nothing(dir: Option<&Path>) {
    let (h, _) = limited(dir, 100, LimitPolicy::Refuse);
    let first = create(&h, 60).await;
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-length", "41")),
    )
    .await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE, "{}", r.text());
    assert_eq!(offset(&h, &first).await, Some(0));
    create(&h, 40).await;
}

async fn deferred_uploads_reserve_when_their_length_is_declared(dir: Option<&Path>) {
    let (h, store) = limited(dir, 100, LimitPolicy::EvictOldest);
    let old = create(&h, 50).await;
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-defer-length", "1")),
    )
    .await;
    let deferred = r.header("location").unwrap().to_owned();
    assert_eq!(store.reserved().await, 50);
    let r = call(
        &h,
        data(
            tus(Method::PATCH, &deferred)
                .header("upload-offset", "0")
                .header("upload-length", "60"),
            b"abc",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(store.reserved().await, 60);
    assert_eq!(
        offset(&h, &old).await,
        None,
        "evicted for the declared length"
    );
    assert_eq!(offset(&h, &deferred).await, Some(3));
}

async fn concurrent_creations_never_overshoot_the_limit(dir: Option<&Path>) {
    for policy in [LimitPolicy::Refuse, LimitPolicy::EvictOldest] {
        let (h, store) = limited(
            dir.map(|d| d.join(format!("{policy:?}"))).as_deref(),
            100,
            policy,
        );
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let h = h.clone();
            tasks.spawn(async move {
                call(
                    &h,
                    empty(tus(Method::POST, "/files/").header("upload-length", "10")),
                )
                .await
                .status
            });
        }
        let mut created = 0;
        while let Some(status) = tasks.join_next().await {
            match status.unwrap() {
                StatusCode::CREATED => created += 1,
                StatusCode::INSUFFICIENT_STORAGE => assert_eq!(policy, LimitPolicy::Refuse),
                other => panic!("unexpected {other}"),
            }
        }
        assert!(store.reserved().await <= 100);
        if policy == LimitPolicy::Refuse {
            assert_eq!(created, 10);
        } else {
            assert_eq!(created, 50);
        }
        if let Some(dir) = dir {
            let infos = std::fs::read_dir(dir.join(format!("{policy:?}")))
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_str()
                        .unwrap()
                        .ends_with(".info")
                })
                .count();
            assert_eq!(infos, 10, "what is on disk stays under the limit");
        }
    }
}

async fn termination_gives_the_room_back(dir: Option<&Path>) {
    let (h, store) = limited(dir, 100, LimitPolicy::Refuse);
    let url = create(&h, 100).await;
    assert_eq!(
        call(&h, empty(tus(Method::DELETE, &url))).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(store.reserved().await, 0);
    create(&h, 100).await;
}

#[tokio::test]
async fn uploads_already_in_the_folder_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (h, _) = limited(Some(dir.path()), 100, LimitPolicy::EvictOldest);
    let old = create(&h, 70).await;
    // A new process over the same folder.
    let (h, store) = limited(Some(dir.path()), 100, LimitPolicy::EvictOldest);
    assert_eq!(store.reserved().await, 70);
    create(&h, 50).await;
    assert_eq!(offset(&h, &old).await, None);
}
