use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame};

use super::Case;
use super::bodies::{Breaking, Channel, Frames, pattern};
use crate::body::{BodyEnd, UploadBody};
use crate::checksum::{Algorithm, Checksum, Expected};
use crate::error::StoreError;
use crate::info::FileInfo;
use crate::lock::Signal;
use crate::metadata::Metadata;
use crate::store::{Content, DataStore, Extension, Upload};

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        pub(super) const ALL: &[(&str, Case)] = &[
            $((stringify!($name), |store| -> Pin<Box<dyn Future<Output = ()> + Send>> {
                Box::pin($name(store))
            })),*
        ];
    };
}

crate::__store_conformance_cases!((cases)());

fn offers(store: &Arc<dyn DataStore>, ext: Extension) -> bool {
    store.extensions().contains(ext)
}

/// The ids stores gave to the uploads the cases asked for, per store: a
/// store may name an upload otherwise (an S3 store appends its multipart
/// upload id), and the cases go on using the names they asked for.
static GIVEN: Mutex<BTreeMap<(usize, String), String>> = Mutex::new(BTreeMap::new());

fn store_key(store: &Arc<dyn DataStore>) -> usize {
    Arc::as_ptr(store) as *const () as usize
}

/// The id `store` gave to the upload asked for as `asked`.
fn given(store: &Arc<dyn DataStore>, asked: &str) -> String {
    GIVEN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&(store_key(store), asked.to_owned()))
        .cloned()
        .unwrap_or_else(|| asked.to_owned())
}

/// Creates the upload `info` describes, remembering the id it was given.
async fn create(store: &Arc<dyn DataStore>, info: FileInfo) -> Result<Box<dyn Upload>, StoreError> {
    let asked = info.id.clone();
    let upload = store.new_upload(info).await?;
    GIVEN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert((store_key(store), asked), upload.info().id.clone());
    Ok(upload)
}

async fn new(store: &Arc<dyn DataStore>, id: &str, size: Option<u64>) -> Box<dyn Upload> {
    let mut md = Metadata::new();
    md.insert("filename", "a.bin");
    md.insert("raw", vec![0u8, 0xff, 0xfe]);
    create(store, FileInfo::new(id).with_size(size).with_metadata(md))
        .await
        .expect("new_upload")
}

async fn open(store: &Arc<dyn DataStore>, id: &str) -> Box<dyn Upload> {
    store
        .get_upload(&given(store, id))
        .await
        .expect("get_upload")
}

async fn info(store: &Arc<dyn DataStore>, id: &str) -> FileInfo {
    open(store, id).await.info().clone()
}

async fn write<B>(upload: &mut Box<dyn Upload>, body: B, limit: u64) -> (u64, UploadBody)
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<crate::error::BoxError>,
{
    let mut src = UploadBody::new(body, limit);
    let offset = upload.write(&mut src).await.expect("write");
    (offset, src)
}

/// The bytes of `id` received so far, or `None` without downloads.
async fn bytes(store: &Arc<dyn DataStore>, id: &str) -> Option<Vec<u8>> {
    if !offers(store, Extension::Content) {
        return None;
    }
    let upload = open(store, id).await;
    let end = upload.info().offset;
    Some(read(upload.content(0..end).await.expect("content")).await)
}

/// Waits until the store has read every chunk sent on `tx`.
async fn taken(tx: &tokio::sync::mpsc::Sender<Bytes>) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while tx.capacity() < tx.max_capacity() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the store reads the body");
}

async fn read(content: Content) -> Vec<u8> {
    let Content::Body(mut body) = content else {
        panic!("expected a body, not a redirect");
    };
    let mut out = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Ok(data) = frame.expect("content body").into_data() {
            out.extend_from_slice(&data);
        }
    }
    out
}

fn checksum_of(algorithm: Algorithm, data: &[u8]) -> Checksum {
    let mut hasher = algorithm.hasher();
    hasher.update(data);
    Checksum::parse(&format!(
        "{} {}",
        algorithm.name(),
        STANDARD.encode(hasher.finish())
    ))
    .expect("a valid checksum")
}

async fn new_upload_starts_empty_and_describes_itself(store: Arc<dyn DataStore>) {
    let created = new(&store, "up1", Some(10)).await;
    assert_eq!(created.info().offset, 0);
    assert!(!created.info().finished);
    assert!(created.info().storage.contains_key("Type"));
    let info = info(&store, "up1").await;
    assert_eq!(info.id, created.info().id);
    assert_eq!(info.size, Some(10));
    assert_eq!(info.offset, 0);
    assert!(!info.finished);
    assert_eq!(info.metadata.get_str("filename"), Some("a.bin"));
    assert_eq!(info.metadata.get("raw"), Some(&[0u8, 0xff, 0xfe][..]));
    assert!(info.created_at.is_some());
}

async fn duplicate_ids_conflict(store: Arc<dyn DataStore>) {
    new(&store, "dup", Some(1)).await;
    let err = create(&store, FileInfo::new("dup").with_size(Some(1)))
        .await
        .map(drop)
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

async fn write_appends_and_returns_the_durable_offset(store: Arc<dyn DataStore>) {
    let mut upload = new(&store, "w", Some(6)).await;
    let (offset, _) = write(&mut upload, Frames::new(&[b"ab", b"c"]), 6).await;
    assert_eq!(offset, 3);
    assert_eq!(upload.info().offset, 3);
    let (offset, body) = write(&mut upload, Frames::new(&[b"def"]), 3).await;
    assert_eq!(offset, 6);
    assert!(matches!(body.end(), Some(BodyEnd::Complete)));
    assert_eq!(
        info(&store, "w").await.offset,
        6,
        "reopened, the offset is durable"
    );
    if let Some(bytes) = bytes(&store, "w").await {
        assert_eq!(bytes, b"abcdef");
    }
}

async fn a_stale_handle_cannot_write(store: Arc<dyn DataStore>) {
    new(&store, "s", Some(6)).await;
    let mut first = open(&store, "s").await;
    let mut stale = open(&store, "s").await;
    write(&mut first, Frames::new(&[b"ab"]), 6).await;
    let err = stale
        .write(&mut UploadBody::new(Frames::new(&[b"xy"]), 6))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(info(&store, "s").await.offset, 2);
    if let Some(bytes) = bytes(&store, "s").await {
        assert_eq!(bytes, b"ab");
    }
}

async fn a_body_that_breaks_off_keeps_every_byte_that_arrived(store: Arc<dyn DataStore>) {
    let mut upload = new(&store, "b", Some(100)).await;
    let data = pattern(30);
    let parts: Vec<&[u8]> = data.chunks(7).collect();
    let (offset, body) = write(&mut upload, Breaking::new(&parts), 100).await;
    assert_eq!(offset, 30);
    assert!(matches!(body.end(), Some(BodyEnd::Failed(_))));
    assert_eq!(info(&store, "b").await.offset, 30);
    if let Some(bytes) = bytes(&store, "b").await {
        assert_eq!(bytes, data);
    }
}

async fn a_release_request_stops_reading_and_keeps_what_arrived(store: Arc<dyn DataStore>) {
    let mut upload = new(&store, "r", Some(100)).await;
    let (tx, body) = Channel::new();
    let signal = Signal::new();
    let mut body = UploadBody::new(body, 100).with_release_signal(signal.clone());
    let writer = tokio::spawn(async move {
        let offset = upload.write(&mut body).await.expect("write");
        (offset, body)
    });
    tx.send(Bytes::from_static(b"12345")).await.expect("send");
    taken(&tx).await;
    signal.raise();
    let (offset, body) = tokio::time::timeout(Duration::from_secs(5), writer)
        .await
        .expect("the writer stops when asked")
        .expect("writer task");
    assert_eq!(offset, 5);
    assert!(matches!(body.end(), Some(BodyEnd::ReleaseRequested)));
    if let Some(bytes) = bytes(&store, "r").await {
        assert_eq!(bytes, b"12345");
    }
    drop(tx);
}

async fn a_lost_lock_stops_reading(store: Arc<dyn DataStore>) {
    let mut upload = new(&store, "lost", Some(100)).await;
    let (tx, body) = Channel::new();
    let lost = Signal::new();
    let lock = crate::lock::UploadLock::new(
        Signal::new(),
        lost.clone(),
        1,
        Box::new(|| Box::pin(async {})),
    );
    let mut body = UploadBody::new(body, 100).with_lock(&lock);
    assert_eq!(body.fencing_token(), Some(1));
    let writer = tokio::spawn(async move {
        let offset = upload.write(&mut body).await.expect("write");
        (offset, body)
    });
    tx.send(Bytes::from_static(b"abc")).await.expect("send");
    taken(&tx).await;
    lost.raise();
    let (offset, body) = tokio::time::timeout(Duration::from_secs(5), writer)
        .await
        .expect("the writer stops when the lock is lost")
        .expect("writer task");
    assert!(matches!(body.end(), Some(BodyEnd::LockLost)));
    // Another writer may hold the upload now: bytes stored before the loss
    // stay, bytes a store still held back are dropped, never written late.
    assert!(offset == 3 || offset == 0, "offset {offset}");
    drop((tx, lock));
    let stored = open(&store, "lost").await.info().offset;
    assert_eq!(stored, offset, "a late write after the loss");
    if let Some(bytes) = bytes(&store, "lost").await {
        assert_eq!(bytes, &b"abc"[..offset as usize]);
    }
}

async fn write_never_passes_the_limit(store: Arc<dyn DataStore>) {
    let mut upload = new(&store, "l", Some(4)).await;
    let (offset, body) = write(&mut upload, Frames::new(&[b"abc", b"def"]), 4).await;
    assert_eq!(offset, 4);
    assert!(matches!(body.end(), Some(BodyEnd::TooLarge)));
    if let Some(bytes) = bytes(&store, "l").await {
        assert_eq!(bytes, b"abcd");
    }
}

async fn unknown_uploads_are_not_found(store: Arc<dyn DataStore>) {
    assert!(matches!(
        store.get_upload(&given(&store, "missing")).await.map(drop),
        Err(StoreError::NotFound)
    ));
}

async fn finish_is_persisted_and_idempotent(store: Arc<dyn DataStore>) {
    let mut upload = new(&store, "fin", Some(2)).await;
    write(&mut upload, Frames::new(&[b"ok"]), 2).await;
    upload.finish().await.expect("finish");
    assert!(upload.info().finished);
    assert!(
        info(&store, "fin").await.finished,
        "finished survives reopening"
    );
    let mut again = open(&store, "fin").await;
    again.finish().await.expect("finishing twice is fine");
    let reopened = info(&store, "fin").await;
    assert!(reopened.finished);
    assert_eq!(reopened.offset, 2);
    let mut empty = new(&store, "empty", Some(0)).await;
    empty.finish().await.expect("an empty upload finishes");
    assert!(info(&store, "empty").await.finished);
}

async fn terminate_removes_everything(store: Arc<dyn DataStore>) {
    if !offers(&store, Extension::Termination) {
        return;
    }
    let mut upload = new(&store, "t", Some(3)).await;
    write(&mut upload, Frames::new(&[b"abc"]), 3).await;
    upload.terminate().await.expect("terminate");
    assert!(matches!(
        store.get_upload(&given(&store, "t")).await.map(drop),
        Err(StoreError::NotFound)
    ));
    if offers(&store, Extension::Listing) {
        assert!(
            !store
                .list_uploads()
                .await
                .expect("list")
                .contains(&"t".to_owned())
        );
    }
}

async fn terminate_refuses_when_a_final_started_to_use_it(store: Arc<dyn DataStore>) {
    if !offers(&store, Extension::Termination) || !offers(&store, Extension::Concatenation) {
        return;
    }
    let mut info = FileInfo::new("tp").with_size(Some(3));
    info.is_partial = true;
    create(&store, info).await.expect("new_upload");
    let mut deleting = open(&store, "tp").await;
    open(&store, "tp")
        .await
        .add_final("f")
        .await
        .expect("add_final");
    let err = deleting.terminate().await.unwrap_err();
    assert!(matches!(err, StoreError::PreconditionFailed(_)), "{err:?}");
    assert!(
        store.get_upload(&given(&store, "tp")).await.is_ok(),
        "the partial is still there"
    );
    let mut fresh = open(&store, "tp").await;
    assert_eq!(fresh.info().used_by, vec!["f"]);
    fresh
        .terminate()
        .await
        .expect("a handle that saw the final may terminate");
}

async fn content_returns_the_bytes_so_far(store: Arc<dyn DataStore>) {
    if !offers(&store, Extension::Content) {
        return;
    }
    let mut upload = new(&store, "g", Some(10)).await;
    assert_eq!(bytes(&store, "g").await.expect("content"), b"");
    write(&mut upload, Frames::new(&[b"abc"]), 10).await;
    assert_eq!(bytes(&store, "g").await.expect("content"), b"abc");
}

async fn content_serves_a_range(store: Arc<dyn DataStore>) {
    if !offers(&store, Extension::Content) {
        return;
    }
    let mut upload = new(&store, "gs", Some(10)).await;
    write(&mut upload, Frames::new(&[b"0123", b"456789"]), 10).await;
    let content = upload.content(3..7).await.expect("content");
    assert_eq!(read(content).await, b"3456");
    let content = upload.content(7..10).await.expect("content");
    assert_eq!(read(content).await, b"789");
}

async fn a_deferred_length_is_declared_once(store: Arc<dyn DataStore>) {
    if !offers(&store, Extension::LengthDeferral) {
        return;
    }
    let mut upload = new(&store, "d", None).await;
    assert_eq!(info(&store, "d").await.size, None);
    write(&mut upload, Frames::new(&[b"ab"]), u64::MAX).await;
    upload.declare_length(5).await.expect("declare_length");
    assert_eq!(upload.info().size, Some(5));
    let stored = info(&store, "d").await;
    assert_eq!((stored.size, stored.offset), (Some(5), 2));
}

async fn partial(store: &Arc<dyn DataStore>, id: &str, bytes: &[u8]) -> FileInfo {
    let mut info = FileInfo::new(id).with_size(Some(bytes.len() as u64));
    info.is_partial = true;
    let mut upload = create(store, info).await.expect("new_upload");
    write(&mut upload, Frames::new(&[bytes]), bytes.len() as u64).await;
    upload.finish().await.expect("finish");
    upload.info().clone()
}

/// Contents for partial uploads that `store` joins in any order: `small`
/// as they are, or each repeated to the smallest size the store takes
/// (S3's minimum part size: 5 MiB on AWS, less on some S3-compatibles).
async fn joinable(store: &Arc<dyn DataStore>, small: &[&[u8]]) -> Vec<Vec<u8>> {
    for at_least in [0, 64 << 10, 5 << 20] {
        let contents: Vec<Vec<u8>> = small
            .iter()
            .map(|bytes| bytes.repeat(at_least / bytes.len() + 1))
            .collect();
        let probe: Vec<FileInfo> = contents
            .iter()
            .chain(&contents)
            .map(|bytes| {
                let mut info = FileInfo::new("probe").with_size(Some(bytes.len() as u64));
                info.is_partial = true;
                info
            })
            .collect();
        if store.check_concatenation(&probe).await.is_ok() {
            return contents;
        }
    }
    panic!("the store joins no partial uploads of up to 5 MiB");
}

/// What `id` holds once finished, for stores that serve only finished uploads.
async fn finished_bytes(store: &Arc<dyn DataStore>, id: &str) -> Option<Vec<u8>> {
    if offers(store, Extension::Content) {
        return bytes(store, id).await;
    }
    if !offers(store, Extension::FinishedContent) {
        return None;
    }
    let mut upload = open(store, id).await;
    upload.finish().await.expect("finish");
    let end = upload.info().offset;
    Some(read(upload.content(0..end).await.expect("content")).await)
}

async fn concatenate_joins_partials_in_order(store: Arc<dyn DataStore>) {
    if !offers(&store, Extension::Concatenation) {
        return;
    }
    let contents = joinable(&store, &[b"abc", b"defg"]).await;
    let (a, b) = (&contents[0], &contents[1]);
    let p1 = partial(&store, "p1", a).await;
    let p2 = partial(&store, "p2", b).await;
    let order = vec![p2.clone(), p1, p2];
    let expected = [b.as_slice(), a, b].concat();
    let size = expected.len() as u64;
    let mut fin = FileInfo::new("fin").with_size(Some(size));
    fin.is_final = true;
    fin.partial_uploads = vec!["p2".into(), "p1".into(), "p2".into()];
    let mut upload = create(&store, fin).await.expect("new_upload");
    upload.concatenate(&order).await.expect("concatenate");
    assert_eq!(upload.info().offset, size);
    let stored = info(&store, "fin").await;
    assert!(stored.is_final);
    assert_eq!(stored.partial_uploads, vec!["p2", "p1", "p2"]);
    // Done again (a retry), the result is the same.
    let mut again = open(&store, "fin").await;
    again.concatenate(&order).await.expect("concatenate again");
    assert_eq!(again.info().offset, size);
    if let Some(bytes) = finished_bytes(&store, "fin").await {
        assert!(bytes == expected, "the partials' bytes in order");
    }
    assert_eq!(info(&store, "fin").await.offset, size);
}

async fn concatenate_with_a_missing_partial_leaves_the_final_empty(store: Arc<dyn DataStore>) {
    if !offers(&store, Extension::Concatenation) {
        return;
    }
    let p1 = partial(&store, "q1", b"abc").await;
    let mut gone = p1.clone();
    gone.id = "q-gone".into();
    let mut fin = FileInfo::new("qfin").with_size(Some(6));
    fin.is_final = true;
    fin.partial_uploads = vec!["q1".into(), "q-gone".into()];
    let mut upload = create(&store, fin).await.expect("new_upload");
    assert!(upload.concatenate(&[p1, gone]).await.is_err());
    assert_eq!(info(&store, "qfin").await.offset, 0, "all or nothing");
}

async fn add_final_is_recorded_once_per_final(store: Arc<dyn DataStore>) {
    if !offers(&store, Extension::Concatenation) {
        return;
    }
    let mut info = FileInfo::new("part").with_size(Some(3));
    info.is_partial = true;
    let mut upload = create(&store, info).await.expect("new_upload");
    upload.add_final("f1").await.expect("add_final");
    upload.add_final("f1").await.expect("add_final");
    open(&store, "part")
        .await
        .add_final("f2")
        .await
        .expect("add_final");
    let stored = self::info(&store, "part").await;
    assert_eq!(stored.used_by, vec!["f1", "f2"]);
    assert!(stored.is_partial);
}

async fn concurrent_add_final_loses_none(store: Arc<dyn DataStore>) {
    if !offers(&store, Extension::Concatenation) {
        return;
    }
    let mut info = FileInfo::new("shared").with_size(Some(3));
    info.is_partial = true;
    create(&store, info).await.expect("new_upload");
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut upload = store
                .get_upload(&given(&store, "shared"))
                .await
                .expect("get_upload");
            upload
                .add_final(&format!("final{i:02}"))
                .await
                .expect("add_final");
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let mut used_by = self::info(&store, "shared").await.used_by;
    used_by.sort();
    let expected: Vec<String> = (0..24).map(|i| format!("final{i:02}")).collect();
    assert_eq!(used_by, expected);
}

fn verified(store: &Arc<dyn DataStore>) -> bool {
    offers(store, Extension::VerifiedWrites)
}

async fn a_verified_write_commits_a_matching_chunk(store: Arc<dyn DataStore>) {
    if !verified(&store) {
        return;
    }
    let mut upload = new(&store, "v", Some(10)).await;
    write(&mut upload, Frames::new(&[b"abc"]), 10).await;
    let expected = Expected::Header(checksum_of(Algorithm::Sha1, b"defg"));
    let mut src = UploadBody::new(Frames::new(&[b"de", b"fg"]), 7).with_checksum(expected);
    let offset = upload.write(&mut src).await.expect("write");
    assert_eq!(offset, 7);
    assert_eq!(src.verdict(), Some(&Ok(())));
    assert_eq!(info(&store, "v").await.offset, 7);
    if let Some(bytes) = bytes(&store, "v").await {
        assert_eq!(bytes, b"abcdefg");
    }
}

async fn a_mismatching_chunk_never_becomes_part_of_the_upload(store: Arc<dyn DataStore>) {
    if !verified(&store) {
        return;
    }
    let mut upload = new(&store, "m", Some(10)).await;
    write(&mut upload, Frames::new(&[b"abc"]), 10).await;
    let expected = Expected::Header(checksum_of(Algorithm::Md5, b"something else"));
    let mut src = UploadBody::new(Frames::new(&[b"xyz"]), 7).with_checksum(expected);
    let offset = upload.write(&mut src).await.expect("write");
    assert_eq!(offset, 3, "the offset stays");
    assert!(src.verdict().is_some_and(|v| v.is_err()));
    assert_eq!(info(&store, "m").await.offset, 3);
    if let Some(bytes) = bytes(&store, "m").await {
        assert_eq!(bytes, b"abc");
    }
    // The next write goes on from where the upload stood.
    let (offset, _) = write(&mut upload, Frames::new(&[b"def"]), 7).await;
    assert_eq!(offset, 6);
    if let Some(bytes) = bytes(&store, "m").await {
        assert_eq!(bytes, b"abcdef");
    }
}

async fn a_staged_chunk_is_invisible_until_verified(store: Arc<dyn DataStore>) {
    if !verified(&store) {
        return;
    }
    let mut upload = new(&store, "st", Some(10)).await;
    write(&mut upload, Frames::new(&[b"ab"]), 10).await;
    let (tx, body) = Channel::new();
    let expected = Expected::Header(checksum_of(Algorithm::Crc32c, b"cdef"));
    let mut src = UploadBody::new(body, 8).with_checksum(expected);
    let writer = tokio::spawn(async move {
        let offset = upload.write(&mut src).await.expect("write");
        (offset, src)
    });
    tx.send(Bytes::from_static(b"cd")).await.expect("send");
    taken(&tx).await;
    let seen = info(&store, "st").await;
    assert_eq!(seen.offset, 2, "a staged chunk is not part of the offset");
    if let Some(bytes) = bytes(&store, "st").await {
        assert_eq!(bytes, b"ab", "nor of the content");
    }
    tx.send(Bytes::from_static(b"ef")).await.expect("send");
    drop(tx);
    let (offset, _) = writer.await.expect("writer");
    assert_eq!(offset, 6);
    if let Some(bytes) = bytes(&store, "st").await {
        assert_eq!(bytes, b"abcdef");
    }
}

async fn a_verified_write_cut_short_keeps_nothing(store: Arc<dyn DataStore>) {
    if !verified(&store) {
        return;
    }
    let mut upload = new(&store, "cut", Some(10)).await;
    let expected = Expected::Header(checksum_of(Algorithm::Sha256, b"abcdef"));
    let mut src = UploadBody::new(Breaking::new(&[b"abc"]), 10).with_checksum(expected);
    let offset = upload.write(&mut src).await.expect("write");
    assert_eq!(offset, 0);
    assert!(matches!(src.end(), Some(BodyEnd::Failed(_))));
    assert_eq!(info(&store, "cut").await.offset, 0);
}

/// Frames followed by trailers.
struct WithTrailers(std::collections::VecDeque<Frame<Bytes>>);

impl Body for WithTrailers {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(Ok))
    }
}

async fn a_trailer_checksum_is_verified(store: Arc<dyn DataStore>) {
    if !verified(&store) {
        return;
    }
    let mut upload = new(&store, "tr", Some(10)).await;
    for (data, digest_of, expected_offset) in [(&b"abc"[..], &b"abc"[..], 3), (b"def", b"xyz", 3)] {
        let mut trailers = HeaderMap::new();
        let value = format!(
            "sha512 {}",
            STANDARD.encode({
                let mut h = Algorithm::Sha512.hasher();
                h.update(digest_of);
                h.finish()
            })
        );
        trailers.insert("upload-checksum", value.parse().expect("header value"));
        let body = WithTrailers(
            [
                Frame::data(Bytes::copy_from_slice(data)),
                Frame::trailers(trailers),
            ]
            .into(),
        );
        let mut src = UploadBody::new(body, 10).with_checksum(Expected::Trailer);
        let offset = upload.write(&mut src).await.expect("write");
        assert_eq!(offset, expected_offset);
    }
    assert_eq!(info(&store, "tr").await.offset, 3);
}

async fn list_uploads_names_every_upload(store: Arc<dyn DataStore>) {
    if !offers(&store, Extension::Listing) {
        return;
    }
    assert!(store.list_uploads().await.expect("list").is_empty());
    new(&store, "one", Some(1)).await;
    new(&store, "two", Some(1)).await;
    let mut both = vec![given(&store, "one"), given(&store, "two")];
    both.sort();
    assert_eq!(store.list_uploads().await.expect("list"), both);
    if offers(&store, Extension::Termination) {
        open(&store, "one")
            .await
            .terminate()
            .await
            .expect("terminate");
        assert_eq!(
            store.list_uploads().await.expect("list"),
            vec![given(&store, "two")]
        );
    }
}
