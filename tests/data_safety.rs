//! Where features meet: checksums with stops and failing stores, finishing
//! that failed, concatenation under concurrency, eviction and expiry next
//! to running uploads, requests abandoned midway. Each case once with a
//! `MemoryStore` and once with a `FileStore`, over the HTTP surface.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use common::*;
use http::{Method, Request, StatusCode};
use tower_tus::checksum::Algorithm;
use tower_tus::events::EventKind;
use tower_tus::hooks::{HookError, HookEvent, HookName, HookResponse, Hooks, PostReceive};
use tower_tus::store::{
    DataStore, Extensions, FileStore, LimitPolicy, LimitedStore, MemoryStore, Upload,
};
use tower_tus::testing::Channel;
use tower_tus::{Config, FileInfo, StoreComposer, StoreError, UploadHandler};

macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $case() {
                super::$case(std::sync::Arc::new(tower_tus::store::MemoryStore::new())).await;
            })*
        }
        mod file {
            $(#[tokio::test] async fn $case() {
                let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
                super::$case(std::sync::Arc::new(tower_tus::store::FileStore::new(dir.path()))).await;
            })*
        }
    };
}

on_both_stores!(
    a_post_receive_stop_during_a_checksummed_patch_terminates_and_answers_the_hook,
    an_empty_upload_created_with_an_empty_body_finishes,
    a_failed_pre_finish_is_retried_by_the_next_head,
    a_failed_finish_is_retried_by_the_sweep,
    a_deferred_length_equal_to_the_offset_finishes_the_upload,
    a_failed_concatenation_completes_on_retry,
    sixty_concurrent_finals_over_one_unfinished_partial_all_complete,
    a_partial_complete_when_its_final_was_made_cannot_be_deleted_until_the_final_is_done,
    a_delete_whose_client_went_away_still_completes,
    a_creation_with_upload_that_fails_tells_where_the_upload_is,
    a_slow_post_receive_hook_never_delays_the_response,
    a_hook_that_never_answers_fails_after_the_hook_timeout,
    the_sweep_never_interrupts_a_running_upload,
    the_sweep_keeps_partials_an_unfinished_final_needs,
    the_sweep_tells_what_a_delete_tells,
    eviction_skips_busy_uploads_and_the_partials_of_the_final_being_made,
    eviction_tells_what_a_delete_tells,
    a_deferred_upload_cannot_stream_past_the_store_limit,
);

fn composer(store: Arc<dyn DataStore>) -> StoreComposer {
    let mut composer = StoreComposer::new();
    composer.use_core(store);
    composer
}

fn digest(algorithm: Algorithm, bytes: &[u8]) -> String {
    let mut hasher = algorithm.hasher();
    hasher.update(bytes);
    format!(
        "{} {}",
        algorithm.name(),
        base64::engine::general_purpose::STANDARD.encode(hasher.finish())
    )
}

async fn stored(store: &Arc<dyn DataStore>, url: &str) -> Option<FileInfo> {
    store
        .get_upload(&id_of(url))
        .await
        .ok()
        .map(|u| u.info().clone())
}

async fn create_final(h: &UploadHandler, urls: &[&str]) -> Reply {
    call(
        h,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-concat", format!("final;{}", urls.join(" "))),
        ),
    )
    .await
}

/// Hooks that record what they saw and do what a test asks.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<(HookName, String)>>>,
    /// How many pre-finish calls fail before one succeeds.
    failing_pre_finish: Arc<AtomicUsize>,
    /// Post-receive stops the upload.
    stop: bool,
    /// Post-receive and pre-terminate take this long.
    slow: Option<Duration>,
}

impl Recorder {
    fn record(&self, name: HookName, event: &HookEvent) {
        self.seen
            .lock()
            .unwrap()
            .push((name, event.upload.id.clone()));
    }

    fn count(&self, name: HookName) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| *n == name)
            .count()
    }

    fn ids(&self, name: HookName) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, id)| id.clone())
            .collect()
    }
}

#[async_trait]
impl Hooks for Recorder {
    async fn pre_finish(&self, event: &HookEvent) -> Result<HookResponse, HookError> {
        self.record(HookName::PreFinish, event);
        let failing = self.failing_pre_finish.load(Ordering::SeqCst);
        if failing > 0 {
            self.failing_pre_finish.store(failing - 1, Ordering::SeqCst);
            return Err(HookError::new("not now"));
        }
        Ok(HookResponse::default())
    }

    async fn post_finish(&self, event: &HookEvent) -> Result<(), HookError> {
        self.record(HookName::PostFinish, event);
        Ok(())
    }

    async fn post_receive(&self, event: &HookEvent) -> Result<PostReceive, HookError> {
        if let Some(slow) = self.slow {
            tokio::time::sleep(slow).await;
        }
        if self.stop {
            return Ok(PostReceive::Stop(
                HookResponse::status(StatusCode::FORBIDDEN).with_body("quota exceeded\n"),
            ));
        }
        let _ = event;
        Ok(PostReceive::Continue)
    }

    async fn pre_terminate(
        &self,
        event: &HookEvent,
    ) -> Result<tower_tus::hooks::Decision, HookError> {
        if let Some(slow) = self.slow {
            tokio::time::sleep(slow).await;
        }
        self.record(HookName::PreTerminate, event);
        Ok(tower_tus::hooks::Decision::Allow)
    }

    async fn post_terminate(&self, event: &HookEvent) -> Result<(), HookError> {
        self.record(HookName::PostTerminate, event);
        Ok(())
    }
}

// 1. Checksums where they meet stops and failures.

async fn a_post_receive_stop_during_a_checksummed_patch_terminates_and_answers_the_hook(
    store: Arc<dyn DataStore>,
) {
    let hooks = Recorder {
        stop: true,
        ..Recorder::default()
    };
    let h = UploadHandler::new(
        Config::new(composer(store.clone()))
            .hooks(hooks)
            .progress_interval(Duration::from_millis(20)),
    );
    let url = create(&h, 100).await;
    let (tx, body) = Channel::new();
    let req = tus(Method::PATCH, &url)
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-checksum", digest(Algorithm::Sha1, &[1u8; 100]))
        .body(body)
        .unwrap();
    let sender = tokio::spawn(async move {
        tx.send(Bytes::from(vec![1u8; 10])).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(tx);
    });
    let r = tokio::time::timeout(Duration::from_secs(3), send(&h, req))
        .await
        .expect("the stop ends the PATCH");
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.text(), "quota exceeded\n");
    assert!(
        stored(&store, &url).await.is_none(),
        "a stopped upload is terminated"
    );
    sender.abort();
}

// 2. Finishing: persisted, retried, for empty uploads too.

async fn an_empty_upload_created_with_an_empty_body_finishes(store: Arc<dyn DataStore>) {
    let hooks = Recorder::default();
    let h = UploadHandler::new(Config::new(composer(store.clone())).hooks(hooks.clone()));
    let r = call(
        &h,
        data(
            tus(Method::POST, "/files/").header("upload-length", "0"),
            b"",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let url = r.header("location").unwrap().to_owned();
    assert_eq!(r.header("upload-offset"), Some("0"));
    assert!(stored(&store, &url).await.unwrap().finished);
    assert_eq!(hooks.ids(HookName::PreFinish), vec![id_of(&url)]);
    eventually(5, || async { hooks.count(HookName::PostFinish) == 1 }).await;
}

async fn a_failed_pre_finish_is_retried_by_the_next_head(store: Arc<dyn DataStore>) {
    let hooks = Recorder::default();
    hooks.failing_pre_finish.store(1, Ordering::SeqCst);
    let h = UploadHandler::new(Config::new(composer(store.clone())).hooks(hooks.clone()));
    let url = create(&h, 3).await;
    let r = patch(&h, &url, 0, b"abc").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let info = stored(&store, &url).await.unwrap();
    assert!(
        info.is_complete() && !info.finished,
        "complete, not finished"
    );
    let r = call(&h, empty(tus(Method::HEAD, &url))).await;
    assert_eq!(r.header("upload-offset"), Some("3"));
    assert!(
        stored(&store, &url).await.unwrap().finished,
        "HEAD finished it"
    );
    assert_eq!(hooks.count(HookName::PreFinish), 2);
    eventually(5, || async { hooks.count(HookName::PostFinish) == 1 }).await;
    // Finished once: nothing runs again.
    call(&h, empty(tus(Method::HEAD, &url))).await;
    assert_eq!(hooks.count(HookName::PreFinish), 2);
}

/// A store whose finish and concatenate fail a given number of times.
struct Flaky {
    inner: Arc<dyn DataStore>,
    failing_finishes: Arc<AtomicUsize>,
    failing_concats: Arc<AtomicUsize>,
}

struct FlakyUpload {
    inner: Box<dyn Upload>,
    failing_finishes: Arc<AtomicUsize>,
    failing_concats: Arc<AtomicUsize>,
}

fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

impl Flaky {
    fn wrap(&self, inner: Box<dyn Upload>) -> Box<dyn Upload> {
        Box::new(FlakyUpload {
            inner,
            failing_finishes: self.failing_finishes.clone(),
            failing_concats: self.failing_concats.clone(),
        })
    }
}

#[async_trait]
impl DataStore for Flaky {
    async fn new_upload(&self, info: FileInfo) -> Result<Box<dyn Upload>, StoreError> {
        Ok(self.wrap(self.inner.new_upload(info).await?))
    }
    async fn get_upload(&self, id: &str) -> Result<Box<dyn Upload>, StoreError> {
        Ok(self.wrap(self.inner.get_upload(id).await?))
    }
    fn extensions(&self) -> Extensions {
        self.inner.extensions()
    }
    async fn list_uploads(&self) -> Result<Vec<String>, StoreError> {
        self.inner.list_uploads().await
    }
}

#[async_trait]
impl Upload for FlakyUpload {
    fn info(&self) -> &FileInfo {
        self.inner.info()
    }
    async fn write(&mut self, src: &mut tower_tus::body::UploadBody) -> Result<u64, StoreError> {
        self.inner.write(src).await
    }
    async fn finish(&mut self) -> Result<(), StoreError> {
        if take_one(&self.failing_finishes) {
            return Err(StoreError::Unavailable {
                message: "backend down".into(),
                retry_after: Some(Duration::from_secs(2)),
            });
        }
        self.inner.finish().await
    }
    async fn content(
        &self,
        range: std::ops::Range<u64>,
    ) -> Result<tower_tus::store::Content, StoreError> {
        self.inner.content(range).await
    }
    async fn terminate(&mut self) -> Result<(), StoreError> {
        self.inner.terminate().await
    }
    async fn declare_length(&mut self, length: u64) -> Result<(), StoreError> {
        self.inner.declare_length(length).await
    }
    async fn concatenate(&mut self, partials: &[FileInfo]) -> Result<(), StoreError> {
        if take_one(&self.failing_concats) {
            return Err(StoreError::Io(std::io::Error::other("disk hiccup")));
        }
        self.inner.concatenate(partials).await
    }
    async fn add_final(&mut self, final_id: &str) -> Result<(), StoreError> {
        self.inner.add_final(final_id).await
    }
}

fn flaky(store: Arc<dyn DataStore>, finishes: usize, concats: usize) -> Flaky {
    Flaky {
        inner: store,
        failing_finishes: Arc::new(AtomicUsize::new(finishes)),
        failing_concats: Arc::new(AtomicUsize::new(concats)),
    }
}

async fn a_failed_finish_is_retried_by_the_sweep(store: Arc<dyn DataStore>) {
    let hooks = Recorder::default();
    let mut composer = StoreComposer::new();
    composer.use_core(flaky(store.clone(), 1, 0));
    let h = UploadHandler::new(Config::new(composer).hooks(hooks.clone()));
    let url = create(&h, 3).await;
    let r = patch(&h, &url, 0, b"abc").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("2"));
    assert!(!stored(&store, &url).await.unwrap().finished);
    let report = h.sweep().await.unwrap();
    assert_eq!(report.finished, 1);
    assert!(stored(&store, &url).await.unwrap().finished);
    eventually(5, || async { hooks.count(HookName::PostFinish) == 1 }).await;
}

async fn a_deferred_length_equal_to_the_offset_finishes_the_upload(store: Arc<dyn DataStore>) {
    let hooks = Recorder::default();
    let h = UploadHandler::new(Config::new(composer(store.clone())).hooks(hooks.clone()));
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-defer-length", "1")),
    )
    .await;
    let url = r.header("location").unwrap().to_owned();
    assert_eq!(
        patch(&h, &url, 0, b"abc").await.status,
        StatusCode::NO_CONTENT
    );
    // A length equal to the offset, with a body that cannot fit: refused,
    // and the length stays open.
    let r = call(
        &h,
        data(
            tus(Method::PATCH, &url)
                .header("upload-offset", "3")
                .header("upload-length", "3"),
            b"d",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(stored(&store, &url).await.unwrap().size, None);
    // Declared without a body: the upload is complete and finishes.
    let r = call(
        &h,
        data(
            tus(Method::PATCH, &url)
                .header("upload-offset", "3")
                .header("upload-length", "3"),
            b"",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let info = stored(&store, &url).await.unwrap();
    assert_eq!(info.size, Some(3));
    assert!(info.finished);
    assert_eq!(hooks.count(HookName::PreFinish), 1);
}

// Concatenation.

async fn a_failed_concatenation_completes_on_retry(store: Arc<dyn DataStore>) {
    let mut composer = StoreComposer::new();
    composer.use_core(flaky(store.clone(), 0, 1));
    let h = UploadHandler::new(Config::new(composer));
    let a = create_partial(&h, 3).await;
    let b = create_partial(&h, 2).await;
    patch(&h, &a, 0, b"abc").await;
    let r = create_final(&h, &[&a, &b]).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let fin = r.header("location").unwrap().to_owned();
    // The last partial completes; the concatenation fails once.
    assert_eq!(patch(&h, &b, 0, b"de").await.status, StatusCode::NO_CONTENT);
    let info = stored(&store, &fin).await.unwrap();
    assert!(
        !info.finished,
        "the failed concatenation left the final unfinished"
    );
    assert_eq!(info.offset, 0, "and empty");
    let r = call(&h, empty(tus(Method::HEAD, &fin))).await;
    assert_eq!(r.header("upload-offset"), Some("5"), "HEAD completed it");
    assert!(stored(&store, &fin).await.unwrap().finished);
    let r = call(&h, empty(Request::get(&fin))).await;
    assert_eq!(&r.body[..], b"abcde");
}

async fn sixty_concurrent_finals_over_one_unfinished_partial_all_complete(
    store: Arc<dyn DataStore>,
) {
    let h = UploadHandler::new(Config::new(composer(store.clone())));
    let a = create_partial(&h, 4).await;
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let (h, a) = (h.clone(), a.clone());
        tasks.push(tokio::spawn(async move { create_final(&h, &[&a]).await }));
    }
    let mut finals = Vec::new();
    for task in tasks {
        let r = task.await.unwrap();
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        finals.push(r.header("location").unwrap().to_owned());
    }
    let info = stored(&store, &a).await.unwrap();
    assert_eq!(info.used_by.len(), 60, "no final lost its record");
    for method in [Method::HEAD, Method::GET] {
        let r = call(&h, empty(tus(method, &a))).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(
        patch(&h, &a, 0, b"data").await.status,
        StatusCode::NO_CONTENT
    );
    for fin in &finals {
        let r = call(&h, empty(tus(Method::HEAD, fin))).await;
        assert_eq!(r.header("upload-offset"), Some("4"), "{fin}");
        assert!(stored(&store, fin).await.unwrap().finished);
    }
}

async fn a_partial_complete_when_its_final_was_made_cannot_be_deleted_until_the_final_is_done(
    store: Arc<dyn DataStore>,
) {
    let h = UploadHandler::new(Config::new(composer(store.clone())));
    let a = create_partial(&h, 3).await;
    let b = create_partial(&h, 3).await;
    patch(&h, &a, 0, b"abc").await;
    let fin = create_final(&h, &[&a, &b]).await;
    let fin = fin.header("location").unwrap().to_owned();
    let r = call(&h, empty(tus(Method::DELETE, &a))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the final still needs it");
    assert_eq!(
        patch(&h, &b, 0, b"def").await.status,
        StatusCode::NO_CONTENT
    );
    let r = call(&h, empty(Request::get(&fin))).await;
    assert_eq!(&r.body[..], b"abcdef");
    let r = call(&h, empty(tus(Method::DELETE, &a))).await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "the final is done with it"
    );
}

// Requests run to their end.

async fn a_delete_whose_client_went_away_still_completes(store: Arc<dyn DataStore>) {
    let hooks = Recorder {
        slow: Some(Duration::from_millis(300)),
        ..Recorder::default()
    };
    let h = UploadHandler::new(Config::new(composer(store.clone())).hooks(hooks.clone()));
    let url = create(&h, 3).await;
    let gone = tokio::time::timeout(
        Duration::from_millis(50),
        call(&h, empty(tus(Method::DELETE, &url))),
    )
    .await;
    assert!(gone.is_err(), "the client gave up first");
    eventually(5, || async { stored(&store, &url).await.is_none() }).await;
    eventually(5, || async { hooks.count(HookName::PostTerminate) == 1 }).await;
}

async fn a_creation_with_upload_that_fails_tells_where_the_upload_is(store: Arc<dyn DataStore>) {
    let h = UploadHandler::new(Config::new(composer(store.clone())));
    // Its checksum does not match.
    let r = call(
        &h,
        data(
            tus(Method::POST, "/files/")
                .header("upload-length", "5")
                .header("upload-checksum", digest(Algorithm::Md5, b"other")),
            b"hello",
        ),
    )
    .await;
    assert_eq!(r.status.as_u16(), 460);
    let url = r.header("location").expect("the upload's URL").to_owned();
    assert_eq!(r.header("upload-offset"), Some("0"));
    assert_eq!(offset(&h, &url).await, Some(0));
    // Its body breaks off.
    let req = tus(Method::POST, "/files/")
        .header("upload-length", "100")
        .header("content-type", "application/offset+octet-stream")
        .body(tower_tus::testing::Breaking::new(&[b"0123456789"]))
        .unwrap();
    let r = send(&h, req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let url = r.header("location").expect("the upload's URL").to_owned();
    assert_eq!(r.header("upload-offset"), Some("10"));
    assert_eq!(offset(&h, &url).await, Some(10));
}

// Hooks never hold a request longer than they must.

async fn a_slow_post_receive_hook_never_delays_the_response(store: Arc<dyn DataStore>) {
    let hooks = Recorder {
        slow: Some(Duration::from_secs(3)),
        ..Recorder::default()
    };
    let h = UploadHandler::new(
        Config::new(composer(store.clone()))
            .hooks(hooks)
            .progress_interval(Duration::from_millis(20)),
    );
    let url = create(&h, 6).await;
    let (tx, body) = Channel::new();
    let req = tus(Method::PATCH, &url)
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(body)
        .unwrap();
    let sender = tokio::spawn(async move {
        tx.send(Bytes::from_static(b"abc")).await.unwrap();
        // Long enough for a post-receive to start, and hang.
        tokio::time::sleep(Duration::from_millis(150)).await;
        tx.send(Bytes::from_static(b"def")).await.unwrap();
    });
    let started = std::time::Instant::now();
    let r = send(&h, req).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered after {:?}",
        started.elapsed()
    );
    sender.await.unwrap();
    // The lock is free again at once.
    assert_eq!(patch(&h, &url, 6, b"").await.status, StatusCode::NO_CONTENT);
}

struct Silent;

#[async_trait]
impl Hooks for Silent {
    async fn pre_create(&self, _: &HookEvent) -> Result<tower_tus::hooks::PreCreate, HookError> {
        std::future::pending().await
    }
}

async fn a_hook_that_never_answers_fails_after_the_hook_timeout(store: Arc<dyn DataStore>) {
    let h = UploadHandler::new(
        Config::new(composer(store))
            .hooks(Silent)
            .hook_timeout(Duration::from_millis(100)),
    );
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        call(
            &h,
            empty(tus(Method::POST, "/files/").header("upload-length", "1")),
        ),
    )
    .await
    .expect("the hook timeout ends the request");
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.text().contains("pre-create"), "{}", r.text());
}

// The sweep.

async fn the_sweep_never_interrupts_a_running_upload(store: Arc<dyn DataStore>) {
    let h = UploadHandler::new(
        Config::new(composer(store.clone())).expire_after(Duration::from_millis(500)),
    );
    let url = create(&h, 6).await;
    let (tx, running) = streaming_patch(&h, &url);
    tx.send(Bytes::from_static(b"abc")).await.unwrap();
    // Past its expiry by the clock, but being written.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let report = h.sweep().await.unwrap();
    assert_eq!(report.expired, 0);
    assert_eq!(report.busy, 1);
    tx.send(Bytes::from_static(b"def")).await.unwrap();
    drop(tx);
    let r = running.await.unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(r.header("upload-offset"), Some("6"));
}

async fn the_sweep_keeps_partials_an_unfinished_final_needs(store: Arc<dyn DataStore>) {
    let h = UploadHandler::new(
        Config::new(composer(store.clone())).expire_after(Duration::from_millis(700)),
    );
    let a = create_partial(&h, 3).await;
    let b = create_partial(&h, 6).await;
    patch(&h, &a, 0, b"abc").await;
    let fin = create_final(&h, &[&a, &b]).await;
    let fin = fin.header("location").unwrap().to_owned();
    // B keeps the final alive while it is being uploaded, and the final
    // keeps A, long past A's own expiry.
    for offset in 0..5 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            patch(&h, &b, offset, b"x").await.status,
            StatusCode::NO_CONTENT
        );
        h.sweep().await.unwrap();
        assert!(stored(&store, &a).await.is_some(), "A is still needed");
        assert!(
            stored(&store, &fin).await.is_some(),
            "the final is active through B"
        );
    }
    assert_eq!(patch(&h, &b, 5, b"y").await.status, StatusCode::NO_CONTENT);
    let r = call(&h, empty(Request::get(&fin))).await;
    assert_eq!(&r.body[..], b"abcxxxxxy");
}

async fn the_sweep_tells_what_a_delete_tells(store: Arc<dyn DataStore>) {
    let hooks = Recorder::default();
    let h = UploadHandler::new(
        Config::new(composer(store.clone()))
            .hooks(hooks.clone())
            .events([EventKind::Terminated])
            .expire_after(Duration::from_millis(50)),
    );
    let mut events = h.subscribe();
    let url = create(&h, 3).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.sweep().await.unwrap().expired, 1);
    assert!(stored(&store, &url).await.is_none());
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("a terminated event within 5 s")
        .unwrap();
    assert_eq!(
        (event.kind, event.info.id.clone()),
        (EventKind::Terminated, id_of(&url))
    );
    eventually(5, || async {
        hooks.ids(HookName::PostTerminate) == vec![id_of(&url)]
    })
    .await;
    assert_eq!(h.metrics().uploads_terminated(), 1);
}

// Eviction.

fn limited(store: Arc<dyn DataStore>, limit: u64) -> StoreComposer {
    let mut composer = StoreComposer::new();
    LimitedStore::new(limit, store)
        .policy(LimitPolicy::EvictOldest)
        .use_in(&mut composer);
    composer
}

async fn eviction_skips_busy_uploads_and_the_partials_of_the_final_being_made(
    store: Arc<dyn DataStore>,
) {
    let h = UploadHandler::new(Config::new(limited(store.clone(), 10)));
    // The oldest upload is being written.
    let busy = create(&h, 4).await;
    let (tx, running) = streaming_patch(&h, &busy);
    tx.send(Bytes::from_static(b"ab")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let idle = create(&h, 4).await;
    // 8 of 10 reserved: 4 more evict the idle one, never the busy one.
    let newer = create(&h, 4).await;
    assert!(
        stored(&store, &idle).await.is_none(),
        "the idle upload made room"
    );
    assert!(
        stored(&store, &busy).await.is_some(),
        "the busy one was skipped"
    );
    tx.send(Bytes::from_static(b"cd")).await.unwrap();
    drop(tx);
    assert_eq!(running.await.unwrap().status, StatusCode::NO_CONTENT);

    // A final counts on top of its partials, which are never evicted for it.
    call(&h, empty(tus(Method::DELETE, &newer))).await;
    call(&h, empty(tus(Method::DELETE, &busy))).await;
    let a = create_partial(&h, 3).await;
    let b = create_partial(&h, 3).await;
    patch(&h, &a, 0, b"abc").await;
    patch(&h, &b, 0, b"def").await;
    let r = create_final(&h, &[&a, &b]).await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE, "{}", r.text());
    assert!(stored(&store, &a).await.is_some());
    assert!(stored(&store, &b).await.is_some());
}

async fn eviction_tells_what_a_delete_tells(store: Arc<dyn DataStore>) {
    let hooks = Recorder::default();
    let h = UploadHandler::new(
        Config::new(limited(store.clone(), 5))
            .hooks(hooks.clone())
            .events([EventKind::Terminated]),
    );
    let mut events = h.subscribe();
    let old = create(&h, 5).await;
    create(&h, 5).await;
    assert!(stored(&store, &old).await.is_none());
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("a terminated event within 5 s")
        .unwrap();
    assert_eq!(
        (event.kind, event.info.id.clone()),
        (EventKind::Terminated, id_of(&old))
    );
    eventually(5, || async {
        hooks.ids(HookName::PostTerminate) == vec![id_of(&old)]
    })
    .await;
    assert_eq!(h.metrics().uploads_terminated(), 1);
}

async fn a_deferred_upload_cannot_stream_past_the_store_limit(store: Arc<dyn DataStore>) {
    let h = UploadHandler::new(Config::new(limited(store.clone(), 100)));
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-defer-length", "1")),
    )
    .await;
    let url = r.header("location").unwrap().to_owned();
    let req = tus(Method::PATCH, &url)
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(Frames::new(&[&pattern(60), &pattern(90)]))
        .unwrap();
    let r = send(&h, req).await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE, "{}", r.text());
    assert_eq!(offset(&h, &url).await, Some(100));
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-length", "1")),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "the oldest upload made room");
}

// The file store, where a disk fails mid-chunk.

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_disk_error_while_committing_a_checksummed_chunk_leaves_the_upload_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn DataStore> = Arc::new(FileStore::new(dir.path()));
    let h = UploadHandler::new(Config::new(composer(store.clone())));
    let url = create(&h, 200_000).await;
    let data_file = dir.path().join(id_of(&url));
    // The upload's bytes land on a device that is always full.
    std::fs::remove_file(&data_file).unwrap();
    std::os::unix::fs::symlink("/dev/full", &data_file).unwrap();
    let chunk = pattern(100_000);
    let checksummed = |offset: u64| {
        data(
            tus(Method::PATCH, &url)
                .header("upload-offset", offset)
                .header("upload-checksum", digest(Algorithm::Sha256, &chunk)),
            &chunk,
        )
    };
    let r = call(&h, checksummed(0)).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text());
    assert!(
        !dir.path().join(format!("{}.chunk", id_of(&url))).exists(),
        "the staged chunk is gone"
    );
    // The disk is back: nothing of the failed chunk counts, and it goes through.
    std::fs::remove_file(&data_file).unwrap();
    std::fs::write(&data_file, b"").unwrap();
    assert_eq!(offset(&h, &url).await, Some(0));
    let r = call(&h, checksummed(0)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(r.header("upload-offset"), Some("100000"));
    assert!(std::fs::read(&data_file).unwrap() == chunk);
}

#[tokio::test]
async fn a_handler_without_a_locker_still_locks() {
    let mut composer = StoreComposer::new();
    MemoryStore::new().use_in(&mut composer);
    let h = UploadHandler::new(Config::new(composer));
    let url = create(&h, 10).await;
    let (tx, first) = streaming_patch(&h, &url);
    tx.send(Bytes::from_static(b"12345")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A second PATCH takes over: the first stops and keeps what arrived.
    let r = patch(&h, &url, 5, b"67890").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let first = first.await.unwrap();
    assert_eq!(first.status, StatusCode::BAD_REQUEST);
    let r = call(&h, empty(Request::get(&url))).await;
    assert_eq!(&r.body[..], b"1234567890");
    drop(tx);
}

/// A locker whose locks all share one `lost` signal the test raises.
#[derive(Clone, Default)]
struct LosingLocker {
    lost: tower_tus::lock::Signal,
}

#[async_trait]
impl tower_tus::lock::Locker for LosingLocker {
    async fn lock(
        &self,
        _id: &str,
        _mode: tower_tus::lock::LockMode,
        _timeout: Duration,
    ) -> Result<tower_tus::lock::UploadLock, tower_tus::lock::LockError> {
        Ok(tower_tus::lock::UploadLock::new(
            tower_tus::lock::Signal::new(),
            self.lost.clone(),
            1,
            Box::new(|| Box::pin(async {})),
        ))
    }
}

#[tokio::test]
async fn under_a_lost_lock_writing_stops_and_nothing_finishes_or_terminates() {
    let store = MemoryStore::new();
    let locker = LosingLocker::default();
    let mut composer = StoreComposer::new();
    store.use_in(&mut composer);
    composer.use_locker(locker.clone());
    let h = UploadHandler::new(Config::new(composer));
    let url = create(&h, 6).await;
    let (tx, running) = streaming_patch(&h, &url);
    tx.send(Bytes::from_static(b"abc")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    locker.lost.raise();
    let r = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("a lost lock ends the PATCH")
        .unwrap();
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert_eq!(
        offset(&h, &url).await,
        Some(3),
        "what arrived before is kept"
    );
    // Every lock is lost from here on: nothing changes the upload.
    assert_eq!(
        patch(&h, &url, 3, b"def").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(offset(&h, &url).await, Some(3));
    let r = call(&h, empty(tus(Method::DELETE, &url))).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(offset(&h, &url).await, Some(3), "not terminated");
    drop(tx);
}

/// A store whose downloads live elsewhere, as an object store's presigned URLs.
struct Redirecting(MemoryStore);

struct RedirectingUpload(Box<dyn Upload>);

#[async_trait]
impl DataStore for Redirecting {
    async fn new_upload(&self, info: FileInfo) -> Result<Box<dyn Upload>, StoreError> {
        Ok(Box::new(RedirectingUpload(self.0.new_upload(info).await?)))
    }
    async fn get_upload(&self, id: &str) -> Result<Box<dyn Upload>, StoreError> {
        Ok(Box::new(RedirectingUpload(self.0.get_upload(id).await?)))
    }
    fn extensions(&self) -> Extensions {
        self.0.extensions()
    }
}

#[async_trait]
impl Upload for RedirectingUpload {
    fn info(&self) -> &FileInfo {
        self.0.info()
    }
    async fn write(&mut self, src: &mut tower_tus::body::UploadBody) -> Result<u64, StoreError> {
        self.0.write(src).await
    }
    async fn finish(&mut self) -> Result<(), StoreError> {
        self.0.finish().await
    }
    async fn content(
        &self,
        range: std::ops::Range<u64>,
    ) -> Result<tower_tus::store::Content, StoreError> {
        let uri = format!(
            "https://bucket.example/{}?bytes={}-{}",
            self.info().id,
            range.start,
            range.end
        );
        Ok(tower_tus::store::Content::Redirect(uri.parse().unwrap()))
    }
}

#[tokio::test]
async fn a_store_may_answer_a_download_with_a_redirect() {
    let mut composer = StoreComposer::new();
    composer.use_core(Redirecting(MemoryStore::new()));
    let h = UploadHandler::new(Config::new(composer));
    let url = create(&h, 5).await;
    patch(&h, &url, 0, b"hello").await;
    let r = call(&h, empty(Request::get(&url).header("range", "bytes=1-3"))).await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        r.header("location"),
        Some(format!("https://bucket.example/{}?bytes=1-4", id_of(&url)).as_str())
    );
}

#[tokio::test]
async fn a_final_made_while_its_last_partial_streams_completes_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn DataStore> = Arc::new(FileStore::new(dir.path()));
    let h = UploadHandler::new(Config::new(composer(store.clone())));
    let p = create_partial(&h, 6).await;
    let (tx, running) = streaming_patch(&h, &p);
    tx.send(Bytes::from_static(b"abc")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The partial was opened before this final existed.
    let fin = create_final(&h, &[&p]).await;
    assert_eq!(fin.status, StatusCode::CREATED);
    let fin = fin.header("location").unwrap().to_owned();
    tx.send(Bytes::from_static(b"def")).await.unwrap();
    drop(tx);
    assert_eq!(running.await.unwrap().status, StatusCode::NO_CONTENT);
    // Completed by that PATCH, not by a later look at the final.
    let info = stored(&store, &fin).await.unwrap();
    assert!(info.finished, "{info:?}");
    assert_eq!(info.offset, 6);
}

#[tokio::test]
async fn deferred_uploads_streaming_at_once_never_pass_the_store_limit() {
    let h = UploadHandler::new(Config::new(limited(Arc::new(MemoryStore::new()), 100)));
    let mut writers = Vec::new();
    let mut senders = Vec::new();
    let mut urls = Vec::new();
    for _ in 0..2 {
        let r = call(
            &h,
            empty(tus(Method::POST, "/files/").header("upload-defer-length", "1")),
        )
        .await;
        let url = r.header("location").unwrap().to_owned();
        let (tx, body) = Channel::new();
        let req = tus(Method::PATCH, &url)
            .header("upload-offset", "0")
            .header("content-type", "application/offset+octet-stream")
            .body(body)
            .unwrap();
        let h = h.clone();
        writers.push(tokio::spawn(async move { send(&h, req).await }));
        senders.push(tx);
        urls.push(url);
    }
    for _ in 0..3 {
        for tx in &senders {
            let _ = tx.send(Bytes::from(vec![7u8; 30])).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(senders);
    let mut statuses = Vec::new();
    for writer in writers {
        statuses.push(writer.await.unwrap().status);
    }
    let mut total = 0;
    for url in &urls {
        total += offset(&h, url).await.unwrap();
    }
    assert_eq!(total, 100, "exactly the limit is kept, never more");
    assert!(
        statuses.contains(&StatusCode::INSUFFICIENT_STORAGE),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_streaming_deferred_upload_counts_against_new_creations() {
    let mut composer = StoreComposer::new();
    LimitedStore::new(100, MemoryStore::new())
        .policy(LimitPolicy::Refuse)
        .use_in(&mut composer);
    let h = UploadHandler::new(Config::new(composer));
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-defer-length", "1")),
    )
    .await;
    let url = r.header("location").unwrap().to_owned();
    let (tx, running) = streaming_patch(&h, &url);
    tx.send(Bytes::from(vec![1u8; 60])).await.unwrap();
    taken(&tx).await;
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-length", "50")),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "60 of 100 are taken"
    );
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-length", "40")),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "40 still fit");
    tx.send(Bytes::from(vec![2u8; 30])).await.unwrap();
    drop(tx);
    let r = running.await.unwrap();
    assert_eq!(
        r.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "only 0 were left"
    );
    assert_eq!(offset(&h, &url).await, Some(60));
}

/// A store that counts how often each upload is opened, and can report a
/// durable offset behind what it streamed.
struct Counting {
    inner: MemoryStore,
    opens: Arc<Mutex<std::collections::HashMap<String, usize>>>,
    lag: u64,
}

struct Lagging {
    inner: Box<dyn Upload>,
    lag: u64,
}

#[async_trait]
impl DataStore for Counting {
    async fn new_upload(&self, info: FileInfo) -> Result<Box<dyn Upload>, StoreError> {
        let lag = self.lag;
        Ok(Box::new(Lagging {
            inner: self.inner.new_upload(info).await?,
            lag,
        }))
    }
    async fn get_upload(&self, id: &str) -> Result<Box<dyn Upload>, StoreError> {
        *self.opens.lock().unwrap().entry(id.to_owned()).or_default() += 1;
        let lag = self.lag;
        Ok(Box::new(Lagging {
            inner: self.inner.get_upload(id).await?,
            lag,
        }))
    }
    fn extensions(&self) -> Extensions {
        self.inner.extensions()
    }
}

#[async_trait]
impl Upload for Lagging {
    fn info(&self) -> &FileInfo {
        self.inner.info()
    }
    async fn write(&mut self, src: &mut tower_tus::body::UploadBody) -> Result<u64, StoreError> {
        Ok(self.inner.write(src).await?.saturating_sub(self.lag))
    }
    async fn finish(&mut self) -> Result<(), StoreError> {
        self.inner.finish().await
    }
    async fn content(
        &self,
        range: std::ops::Range<u64>,
    ) -> Result<tower_tus::store::Content, StoreError> {
        self.inner.content(range).await
    }
}

fn counting(
    lag: u64,
) -> (
    UploadHandler,
    Arc<Mutex<std::collections::HashMap<String, usize>>>,
) {
    let opens = Arc::default();
    let mut composer = StoreComposer::new();
    composer.use_core(Counting {
        inner: MemoryStore::new(),
        opens: Arc::clone(&opens),
        lag,
    });
    (UploadHandler::new(Config::new(composer)), opens)
}

#[tokio::test]
async fn each_request_reads_an_upload_once() {
    let (h, opens) = counting(0);
    let url = create(&h, 10).await;
    let id = id_of(&url);
    let opened = |opens: &Arc<Mutex<std::collections::HashMap<String, usize>>>| {
        opens.lock().unwrap().get(&id).copied().unwrap_or(0)
    };
    assert_eq!(opened(&opens), 0, "a creation opens nothing");
    for (request, expected) in [
        (
            data(
                tus(Method::PATCH, &url).header("upload-offset", "0"),
                b"abc",
            ),
            StatusCode::NO_CONTENT,
        ),
        (empty(tus(Method::HEAD, &url)), StatusCode::OK),
        (empty(Request::get(&url)), StatusCode::OK),
    ] {
        let before = opened(&opens);
        assert_eq!(call(&h, request).await.status, expected);
        assert_eq!(opened(&opens), before + 1, "one open per request");
    }
}

#[tokio::test]
async fn a_patch_answers_the_offset_the_store_says_is_durable() {
    let (h, _) = counting(1);
    let url = create(&h, 10).await;
    let r = patch(&h, &url, 0, b"abcd").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // Four bytes streamed; the store vouches for three.
    assert_eq!(r.header("upload-offset"), Some("3"));
}

#[tokio::test]
async fn a_failed_finish_is_retried_by_the_next_patch_at_the_end() {
    let store: Arc<dyn DataStore> = Arc::new(MemoryStore::new());
    let hooks = Recorder::default();
    hooks.failing_pre_finish.store(1, Ordering::SeqCst);
    let h = UploadHandler::new(Config::new(composer(store.clone())).hooks(hooks.clone()));
    let url = create(&h, 3).await;
    assert_eq!(
        patch(&h, &url, 0, b"abc").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert!(!stored(&store, &url).await.unwrap().finished);
    // The client retries at offset = length with nothing left to send.
    let r = patch(&h, &url, 3, b"").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(r.header("upload-offset"), Some("3"));
    assert!(stored(&store, &url).await.unwrap().finished);
    assert_eq!(hooks.count(HookName::PreFinish), 2);
}

/// Pre-finish fails once, then answers only after a while.
#[derive(Clone, Default)]
struct SlowSecondFinish {
    calls: Arc<AtomicUsize>,
}

#[async_trait]
impl Hooks for SlowSecondFinish {
    async fn pre_finish(&self, _: &HookEvent) -> Result<HookResponse, HookError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(HookError::new("not now"));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(HookResponse::default())
    }
}

#[tokio::test]
async fn a_head_or_get_whose_client_went_away_still_finishes_the_upload() {
    for method in [Method::HEAD, Method::GET] {
        let store: Arc<dyn DataStore> = Arc::new(MemoryStore::new());
        let h = UploadHandler::new(
            Config::new(composer(store.clone())).hooks(SlowSecondFinish::default()),
        );
        let url = create(&h, 3).await;
        assert_eq!(
            patch(&h, &url, 0, b"abc").await.status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        // This request retries the finish, and its client leaves midway.
        let gone = tokio::time::timeout(
            Duration::from_millis(50),
            call(&h, empty(tus(method.clone(), &url))),
        )
        .await;
        assert!(gone.is_err(), "{method}: the client gave up first");
        eventually(5, || async { stored(&store, &url).await.unwrap().finished }).await;
    }
}

#[tokio::test]
async fn a_creation_with_upload_that_stalls_or_overflows_tells_where_the_upload_is() {
    let h = UploadHandler::new(
        memory_config()
            .network_timeout(Duration::from_millis(200))
            .max_size(10),
    );
    // Stalls after 4 bytes.
    let (tx, body) = Channel::new();
    let req = tus(Method::POST, "/files/")
        .header("upload-length", "10")
        .header("content-type", "application/offset+octet-stream")
        .body(body)
        .unwrap();
    tx.send(Bytes::from_static(b"0123")).await.unwrap();
    let r = send(&h, req).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text());
    let url = r.header("location").expect("the upload's URL").to_owned();
    assert_eq!(r.header("upload-offset"), Some("4"));
    assert_eq!(offset(&h, &url).await, Some(4));
    drop(tx);
    // A deferred length: more bytes than the server's maximum.
    let req = tus(Method::POST, "/files/")
        .header("upload-defer-length", "1")
        .header("content-type", "application/offset+octet-stream")
        .body(Frames::new(&[b"0123456", b"789abc"]))
        .unwrap();
    let r = send(&h, req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    let url = r.header("location").expect("the upload's URL").to_owned();
    assert_eq!(r.header("upload-offset"), Some("10"));
    assert_eq!(offset(&h, &url).await, Some(10));
}

/// A store whose next read gives the state from long before: what a sweep
/// read just before a client wrote to the upload.
struct StaleOnce {
    inner: MemoryStore,
    armed: std::sync::atomic::AtomicBool,
}

struct StaleUpload {
    inner: Box<dyn Upload>,
    info: FileInfo,
}

#[async_trait]
impl DataStore for StaleOnce {
    async fn new_upload(&self, info: FileInfo) -> Result<Box<dyn Upload>, StoreError> {
        self.inner.new_upload(info).await
    }
    async fn get_upload(&self, id: &str) -> Result<Box<dyn Upload>, StoreError> {
        let inner = self.inner.get_upload(id).await?;
        if !self.armed.swap(false, Ordering::SeqCst) {
            return Ok(inner);
        }
        let mut info = inner.info().clone();
        info.created_at = Some(std::time::UNIX_EPOCH);
        info.updated_at = Some(std::time::UNIX_EPOCH);
        Ok(Box::new(StaleUpload { inner, info }))
    }
    fn extensions(&self) -> Extensions {
        self.inner.extensions()
    }
    async fn list_uploads(&self) -> Result<Vec<String>, StoreError> {
        self.inner.list_uploads().await
    }
}

#[async_trait]
impl Upload for StaleUpload {
    fn info(&self) -> &FileInfo {
        &self.info
    }
    async fn write(&mut self, src: &mut tower_tus::body::UploadBody) -> Result<u64, StoreError> {
        self.inner.write(src).await
    }
    async fn finish(&mut self) -> Result<(), StoreError> {
        self.inner.finish().await
    }
    async fn terminate(&mut self) -> Result<(), StoreError> {
        self.inner.terminate().await
    }
}

#[tokio::test]
async fn the_sweep_decides_on_the_state_it_read_under_the_lock() {
    let store = Arc::new(StaleOnce {
        inner: MemoryStore::new(),
        armed: false.into(),
    });
    let mut composer = StoreComposer::new();
    composer.use_core(store.clone());
    let h = UploadHandler::new(Config::new(composer).expire_after(Duration::from_secs(3600)));
    let url = create(&h, 6).await;
    assert_eq!(patch(&h, &url, 0, b"abc").await.status, 204);
    // The sweep's first look, without the lock, sees an upload long expired;
    // under the lock, the upload written a moment ago.
    store.armed.store(true, Ordering::SeqCst);
    let report = h.sweep().await.unwrap();
    assert_eq!(report.expired, 0);
    assert_eq!(offset(&h, &url).await, Some(3), "the upload is still there");
}

#[tokio::test]
async fn a_release_request_reads_what_already_arrived_then_stops() {
    use tower_tus::body::{BodyEnd, UploadBody};
    use tower_tus::lock::Signal;
    let (tx, channel) = Channel::new();
    let signal = Signal::new();
    let mut body = UploadBody::new(channel, 1000).with_release_signal(signal.clone());
    for chunk in [&b"cut "[..], b"client's ", b"last bytes"] {
        tx.send(Bytes::from_static(chunk)).await.unwrap();
    }
    signal.raise();
    let mut kept = Vec::new();
    while let Some(chunk) = body.next_chunk().await {
        kept.extend_from_slice(&chunk);
    }
    assert_eq!(kept, b"cut client's last bytes");
    // The client has not ended its body: reading stopped once no more came.
    assert!(matches!(body.end(), Some(BodyEnd::ReleaseRequested)));
    drop(tx);
}

/// A client that always has more to send, as fast as it is read.
struct Endless;

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(vec![
            7u8;
            1 << 20
        ])))))
    }
}

#[tokio::test]
async fn a_client_that_never_pauses_still_lets_go_of_a_requested_lock() {
    use tower_tus::body::{BodyEnd, UploadBody};
    use tower_tus::lock::Signal;
    let signal = Signal::new();
    // Far more than the bound allows, less than for ever.
    let mut body = UploadBody::new(Endless, 64 << 20).with_release_signal(signal.clone());
    assert!(body.next_chunk().await.is_some());
    signal.raise();
    let mut after = 0;
    while let Some(chunk) = body.next_chunk().await {
        after += chunk.len();
    }
    assert!(after <= 16 << 20, "{after} bytes read after the request");
    assert!(matches!(body.end(), Some(BodyEnd::ReleaseRequested)));
}

#[tokio::test(start_paused = true)]
async fn a_body_hands_on_nothing_once_its_lock_s_lease_ran_out() {
    use tower_tus::body::{BodyEnd, UploadBody};
    use tower_tus::lock::{Lease, Signal, UploadLock};
    let lost = Signal::new();
    let lock = UploadLock::new(
        Signal::new(),
        lost.clone(),
        1,
        Box::new(|| Box::pin(async {})),
    )
    .with_lease(Lease::new(Duration::from_secs(10)));
    let (tx, channel) = Channel::new();
    let mut body = UploadBody::new(channel, 1000).with_lock(&lock);
    tx.send(Bytes::from_static(b"in time")).await.unwrap();
    assert_eq!(body.next_chunk().await.as_deref(), Some(&b"in time"[..]));
    // The process was paused past the lease: its locker never got to say
    // the lock was lost, and the next chunk is already there.
    tokio::time::advance(Duration::from_secs(11)).await;
    tx.send(Bytes::from_static(b"too late")).await.unwrap();
    assert_eq!(body.next_chunk().await, None);
    assert!(matches!(body.end(), Some(BodyEnd::LockLost)));
    assert!(
        lost.is_raised(),
        "the lease's end raises the lock's lost signal"
    );
    assert!(body.lock_watch().is_lost());
}
