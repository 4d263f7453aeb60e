//! One suite every `DataStore` passes, run against each store.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{Frames, pattern};
use tokio::io::AsyncReadExt;
use tower_tus::body::{BodyEnd, UploadBody};
use tower_tus::lock::ReleaseSignal;
use tower_tus::metadata::Metadata;
use tower_tus::store::{FileStore, MemoryStore};
use tower_tus::{
    Concater, DataStore, FileInfo, GetReader, LengthDeferrer, Lister, StoreError, Terminater,
    Truncater,
};

trait Store:
    DataStore + Terminater + GetReader + Concater + LengthDeferrer + Truncater + Lister
{
}
impl<T: DataStore + Terminater + GetReader + Concater + LengthDeferrer + Truncater + Lister> Store
    for T
{
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $case() { super::$case(std::sync::Arc::new(tower_tus::store::MemoryStore::new())).await; })*
        }
        mod file {
            $(#[tokio::test] async fn $case() {
                let dir = tempfile::tempdir().unwrap();
                super::$case(std::sync::Arc::new(tower_tus::store::FileStore::new(dir.path().join("nested")))).await;
            })*
        }
    };
}

conformance!(
    new_upload_starts_empty_and_describes_itself,
    duplicate_ids_conflict,
    write_chunk_appends_and_counts,
    write_chunk_at_a_stale_offset_conflicts,
    a_body_that_breaks_off_keeps_every_byte_that_arrived,
    a_release_request_stops_reading_and_keeps_what_arrived,
    write_chunk_never_passes_the_limit,
    unknown_uploads_are_not_found,
    terminate_removes_everything,
    get_reader_returns_the_bytes_so_far,
    get_reader_starts_where_asked,
    a_deferred_length_is_declared_once,
    concat_uploads_joins_partials_in_order,
    add_final_is_recorded_once_per_final,
    truncate_cuts_back_to_an_offset,
    list_uploads_names_every_upload,
);

async fn new(store: &dyn Store, id: &str, size: u64) -> FileInfo {
    let mut md = Metadata::new();
    md.insert("filename", "a.bin");
    md.insert("raw", vec![0u8, 0xff, 0xfe]);
    store
        .new_upload(FileInfo::new(id).with_size(Some(size)).with_metadata(md))
        .await
        .unwrap()
}

async fn read_all(store: &dyn Store, id: &str) -> Vec<u8> {
    let mut out = Vec::new();
    store
        .get_reader(id, 0)
        .await
        .unwrap()
        .read_to_end(&mut out)
        .await
        .unwrap();
    out
}

async fn new_upload_starts_empty_and_describes_itself(store: Arc<dyn Store>) {
    let created = new(&*store, "up1", 10).await;
    assert_eq!(created.offset, 0);
    assert!(created.storage.contains_key("Type"));
    let info = store.get_info("up1").await.unwrap();
    assert_eq!(info.id, "up1");
    assert_eq!(info.size, Some(10));
    assert_eq!(info.offset, 0);
    assert_eq!(info.metadata.get_str("filename"), Some("a.bin"));
    assert_eq!(info.metadata.get("raw"), Some(&[0u8, 0xff, 0xfe][..]));
    assert!(info.created_at.is_some());
}

async fn duplicate_ids_conflict(store: Arc<dyn Store>) {
    new(&*store, "dup", 1).await;
    let err = store
        .new_upload(FileInfo::new("dup").with_size(Some(1)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

async fn write_chunk_appends_and_counts(store: Arc<dyn Store>) {
    new(&*store, "w", 6).await;
    let mut body = UploadBody::new(Frames::new(&[b"ab", b"c"]), 6);
    assert_eq!(store.write_chunk("w", 0, &mut body).await.unwrap(), 3);
    let mut body = UploadBody::new(Frames::new(&[b"def"]), 3);
    assert_eq!(store.write_chunk("w", 3, &mut body).await.unwrap(), 3);
    assert!(matches!(body.end(), Some(BodyEnd::Complete)));
    assert_eq!(store.get_info("w").await.unwrap().offset, 6);
    assert_eq!(read_all(&*store, "w").await, b"abcdef");
}

async fn write_chunk_at_a_stale_offset_conflicts(store: Arc<dyn Store>) {
    new(&*store, "s", 6).await;
    store
        .write_chunk("s", 0, &mut UploadBody::new(Frames::new(&[b"ab"]), 6))
        .await
        .unwrap();
    let err = store
        .write_chunk("s", 0, &mut UploadBody::new(Frames::new(&[b"xy"]), 6))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(read_all(&*store, "s").await, b"ab");
}

/// Yields its frames, then fails like a connection that went away.
struct Breaking(std::collections::VecDeque<Bytes>);

impl http_body::Body for Breaking {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        std::task::Poll::Ready(Some(match self.0.pop_front() {
            Some(b) => Ok(http_body::Frame::data(b)),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset",
            )),
        }))
    }
}

async fn a_body_that_breaks_off_keeps_every_byte_that_arrived(store: Arc<dyn Store>) {
    new(&*store, "b", 100).await;
    let data = pattern(30);
    let body = Breaking(data.chunks(7).map(Bytes::copy_from_slice).collect());
    let mut body = UploadBody::new(body, 100);
    assert_eq!(store.write_chunk("b", 0, &mut body).await.unwrap(), 30);
    assert!(matches!(body.end(), Some(BodyEnd::Failed(_))));
    assert_eq!(store.get_info("b").await.unwrap().offset, 30);
    assert_eq!(read_all(&*store, "b").await, data);
}

async fn a_release_request_stops_reading_and_keeps_what_arrived(store: Arc<dyn Store>) {
    new(&*store, "r", 100).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let body = http_body_util::StreamBody::new(ChannelStream(rx));
    let signal = ReleaseSignal::new();
    let mut body = UploadBody::new(body, 100).with_release_signal(signal.clone());
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let n = store.write_chunk("r", 0, &mut body).await.unwrap();
            (n, body)
        })
    };
    tx.send(Bytes::from_static(b"12345")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    signal.request();
    let (n, body) = tokio::time::timeout(Duration::from_secs(5), writer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 5);
    assert!(matches!(body.end(), Some(BodyEnd::ReleaseRequested)));
    assert_eq!(read_all(&*store, "r").await, b"12345");
    drop(tx);
}

struct ChannelStream(tokio::sync::mpsc::Receiver<Bytes>);

impl futures_core::Stream for ChannelStream {
    type Item = Result<http_body::Frame<Bytes>, std::convert::Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(http_body::Frame::data(b))))
    }
}

async fn write_chunk_never_passes_the_limit(store: Arc<dyn Store>) {
    new(&*store, "l", 4).await;
    let mut body = UploadBody::new(Frames::new(&[b"abc", b"def"]), 4);
    assert_eq!(store.write_chunk("l", 0, &mut body).await.unwrap(), 4);
    assert!(matches!(body.end(), Some(BodyEnd::TooLarge)));
    assert_eq!(read_all(&*store, "l").await, b"abcd");
}

async fn unknown_uploads_are_not_found(store: Arc<dyn Store>) {
    assert!(matches!(
        store.get_info("missing").await,
        Err(StoreError::NotFound)
    ));
    let err = store
        .write_chunk("missing", 0, &mut UploadBody::new(Frames::new(&[b"x"]), 1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert!(matches!(
        store.terminate("missing").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_reader("missing", 0).await,
        Err(StoreError::NotFound)
    ));
}

async fn terminate_removes_everything(store: Arc<dyn Store>) {
    new(&*store, "t", 3).await;
    store
        .write_chunk("t", 0, &mut UploadBody::new(Frames::new(&[b"abc"]), 3))
        .await
        .unwrap();
    store.terminate("t").await.unwrap();
    assert!(matches!(
        store.get_info("t").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_reader("t", 0).await,
        Err(StoreError::NotFound)
    ));
}

async fn get_reader_returns_the_bytes_so_far(store: Arc<dyn Store>) {
    new(&*store, "g", 10).await;
    assert_eq!(read_all(&*store, "g").await, b"");
    store
        .write_chunk("g", 0, &mut UploadBody::new(Frames::new(&[b"abc"]), 10))
        .await
        .unwrap();
    assert_eq!(read_all(&*store, "g").await, b"abc");
}

async fn get_reader_starts_where_asked(store: Arc<dyn Store>) {
    new(&*store, "gs", 10).await;
    store
        .write_chunk(
            "gs",
            0,
            &mut UploadBody::new(Frames::new(&[b"0123456789"]), 10),
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    store
        .get_reader("gs", 7)
        .await
        .unwrap()
        .read_to_end(&mut out)
        .await
        .unwrap();
    assert_eq!(out, b"789");
}

async fn a_deferred_length_is_declared_once(store: Arc<dyn Store>) {
    store
        .new_upload(FileInfo::new("d").with_size(None))
        .await
        .unwrap();
    assert_eq!(store.get_info("d").await.unwrap().size, None);
    store
        .write_chunk(
            "d",
            0,
            &mut UploadBody::new(Frames::new(&[b"ab"]), u64::MAX),
        )
        .await
        .unwrap();
    store.declare_length("d", 5).await.unwrap();
    let info = store.get_info("d").await.unwrap();
    assert_eq!((info.size, info.offset), (Some(5), 2));
}

async fn concat_uploads_joins_partials_in_order(store: Arc<dyn Store>) {
    let mut parts = Vec::new();
    for (id, bytes) in [("p1", &b"abc"[..]), ("p2", b"defg")] {
        let mut info = FileInfo::new(id).with_size(Some(bytes.len() as u64));
        info.is_partial = true;
        store.new_upload(info).await.unwrap();
        store
            .write_chunk(id, 0, &mut UploadBody::new(Frames::new(&[bytes]), 10))
            .await
            .unwrap();
        parts.push(store.get_info(id).await.unwrap());
    }
    let order = vec![parts[1].clone(), parts[0].clone(), parts[1].clone()];
    let mut fin = FileInfo::new("fin").with_size(Some(11));
    fin.is_final = true;
    fin.partial_uploads = vec!["p2".into(), "p1".into(), "p2".into()];
    store.new_upload(fin).await.unwrap();
    store.concat_uploads("fin", &order).await.unwrap();
    let info = store.get_info("fin").await.unwrap();
    assert_eq!(info.offset, 11);
    assert!(info.is_final);
    assert_eq!(info.partial_uploads, vec!["p2", "p1", "p2"]);
    assert_eq!(read_all(&*store, "fin").await, b"defgabcdefg");
    // Done again (a retry), the result is the same.
    store.concat_uploads("fin", &order).await.unwrap();
    assert_eq!(read_all(&*store, "fin").await, b"defgabcdefg");
}

async fn add_final_is_recorded_once_per_final(store: Arc<dyn Store>) {
    let mut info = FileInfo::new("part").with_size(Some(3));
    info.is_partial = true;
    store.new_upload(info).await.unwrap();
    store.add_final("part", "f1").await.unwrap();
    store.add_final("part", "f1").await.unwrap();
    store.add_final("part", "f2").await.unwrap();
    let info = store.get_info("part").await.unwrap();
    assert_eq!(info.used_by, vec!["f1", "f2"]);
    assert!(info.is_partial);
    assert!(matches!(
        store.add_final("missing", "f1").await,
        Err(StoreError::NotFound)
    ));
}

async fn truncate_cuts_back_to_an_offset(store: Arc<dyn Store>) {
    new(&*store, "tr", 10).await;
    store
        .write_chunk("tr", 0, &mut UploadBody::new(Frames::new(&[b"abcdef"]), 10))
        .await
        .unwrap();
    store.truncate("tr", 2).await.unwrap();
    assert_eq!(store.get_info("tr").await.unwrap().offset, 2);
    assert_eq!(read_all(&*store, "tr").await, b"ab");
    store
        .write_chunk("tr", 2, &mut UploadBody::new(Frames::new(&[b"CD"]), 8))
        .await
        .unwrap();
    assert_eq!(read_all(&*store, "tr").await, b"abCD");
}

async fn list_uploads_names_every_upload(store: Arc<dyn Store>) {
    assert!(store.list_uploads().await.unwrap().is_empty());
    new(&*store, "one", 1).await;
    new(&*store, "two", 1).await;
    assert_eq!(store.list_uploads().await.unwrap(), vec!["one", "two"]);
    store.terminate("one").await.unwrap();
    assert_eq!(store.list_uploads().await.unwrap(), vec!["two"]);
}

// File-store specifics: tusd's layout, and ids that could escape the folder.

#[tokio::test]
async fn file_store_writes_tusd_info_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path());
    new(&store, "abc", 10).await;
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("abc.info")).unwrap()).unwrap();
    assert_eq!(json["ID"], "abc");
    assert_eq!(json["Size"], 10);
    assert_eq!(json["SizeIsDeferred"], false);
    assert_eq!(json["Offset"], 0);
    assert_eq!(json["MetaData"]["filename"], "a.bin");
    assert_eq!(json["IsPartial"], false);
    assert_eq!(json["IsFinal"], false);
    assert_eq!(json["Storage"]["Type"], "filestore");
    assert!(dir.path().join("abc").exists());
}

#[tokio::test]
async fn file_store_reads_uploads_written_by_tusd() {
    let dir = tempfile::tempdir().unwrap();
    // As tusd v2 writes them.
    std::fs::write(dir.path().join("0123abcd"), b"hello").unwrap();
    std::fs::write(
        dir.path().join("0123abcd.info"),
        r#"{"ID":"0123abcd","Size":11,"SizeIsDeferred":false,"Offset":0,"MetaData":{"filename":"hello.txt","filetype":"text/plain"},"IsPartial":false,"IsFinal":false,"PartialUploads":null,"Storage":{"InfoPath":"/srv/0123abcd.info","Path":"/srv/0123abcd","Type":"filestore"}}"#,
    )
    .unwrap();
    let store = FileStore::new(dir.path());
    let info = store.get_info("0123abcd").await.unwrap();
    assert_eq!(info.offset, 5, "the data file's length is the offset");
    assert_eq!(info.size, Some(11));
    assert_eq!(info.metadata.get_str("filetype"), Some("text/plain"));
    store
        .write_chunk(
            "0123abcd",
            5,
            &mut UploadBody::new(Frames::new(&[b" world"]), 6),
        )
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("0123abcd")).unwrap(),
        b"hello world"
    );
}

#[tokio::test]
async fn file_store_refuses_ids_that_name_other_paths() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("inner"));
    std::fs::write(dir.path().join("secret.info"), b"{}").unwrap();
    for id in ["../secret", "..", "a/b", "a\0b", "x.info", ""] {
        assert!(
            matches!(store.get_info(id).await, Err(StoreError::NotFound)),
            "{id:?}"
        );
        assert!(
            store
                .new_upload(FileInfo::new(id).with_size(Some(1)))
                .await
                .is_err(),
            "{id:?}"
        );
    }
    assert!(
        !dir.path().join("inner").exists()
            || std::fs::read_dir(dir.path().join("inner")).unwrap().count() == 0
    );
}

#[tokio::test]
async fn memory_store_is_shared_between_clones() {
    let a = MemoryStore::new();
    let b = a.clone();
    new(&a, "shared", 1).await;
    assert!(b.get_info("shared").await.is_ok());
}
