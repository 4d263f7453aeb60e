//! The store conformance suite, run against every store that ships, and
//! what is particular to the file store: tusd's layout, crashes between
//! steps (a new store over the same folder), ids that could escape.

mod common;

use common::pattern;
use tower_tus::FileInfo;
use tower_tus::StoreError;
use tower_tus::store::{DataStore, FileStore, LimitedStore, MemoryStore, Upload};
use tower_tus::testing::Frames;

mod memory_store {
    tower_tus::store_conformance!(|| async { tower_tus::store::MemoryStore::new() });
}

mod file_store {
    tower_tus::store_conformance!(|| async {
        // Kept for the process's life: the store outlives the factory.
        let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
        tower_tus::store::FileStore::new(dir.path().join("nested"))
    });
}

mod limited_store {
    tower_tus::store_conformance!(|| async {
        tower_tus::store::LimitedStore::new(1 << 20, tower_tus::store::MemoryStore::new())
    });
}

async fn write(upload: &mut Box<dyn Upload>, parts: &[&[u8]]) -> u64 {
    let mut body = tower_tus::body::UploadBody::new(Frames::new(parts), u64::MAX);
    upload.write(&mut body).await.unwrap()
}

#[tokio::test]
async fn file_store_writes_tusd_info_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path());
    let mut md = tower_tus::metadata::Metadata::new();
    md.insert("filename", "a.bin");
    store
        .new_upload(FileInfo::new("abc").with_size(Some(10)).with_metadata(md))
        .await
        .unwrap();
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
    assert_eq!(json["Finished"], false);
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
    std::fs::write(dir.path().join("done"), b"hi").unwrap();
    std::fs::write(
        dir.path().join("done.info"),
        r#"{"ID":"done","Size":2,"SizeIsDeferred":false,"Offset":0,"MetaData":{},"IsPartial":false,"IsFinal":false,"PartialUploads":null,"Storage":{"Type":"filestore"}}"#,
    )
    .unwrap();
    let store = FileStore::new(dir.path());
    let mut upload = store.get_upload("0123abcd").await.unwrap();
    let info = upload.info();
    assert_eq!(info.offset, 5, "the data file's length is the offset");
    assert_eq!(info.size, Some(11));
    assert!(!info.finished);
    assert_eq!(info.metadata.get_str("filetype"), Some("text/plain"));
    assert_eq!(write(&mut upload, &[b" world"]).await, 11);
    assert_eq!(
        std::fs::read(dir.path().join("0123abcd")).unwrap(),
        b"hello world"
    );
    // tusd finishes an upload with its last byte and writes no such field.
    assert!(store.get_upload("done").await.unwrap().info().finished);
    // Finishing one tusd wrote rewrites its `.info` whole, tusd's fields kept.
    upload.finish().await.unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("0123abcd.info")).unwrap()).unwrap();
    assert_eq!(json["Finished"], true);
    assert_eq!(json["MetaData"]["filename"], "hello.txt");
    assert!(store.get_upload("0123abcd").await.unwrap().info().finished);
}

#[tokio::test]
async fn finishing_marks_the_info_in_place_and_it_stays_valid_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path());
    let mut upload = store
        .new_upload(FileInfo::new("inplace").with_size(Some(2)))
        .await
        .unwrap();
    write(&mut upload, &[b"ok"]).await;
    let before = std::fs::read(dir.path().join("inplace.info")).unwrap();
    upload.finish().await.unwrap();
    let after = std::fs::read(dir.path().join("inplace.info")).unwrap();
    assert_eq!(before.len(), after.len(), "six bytes changed in place");
    let json: serde_json::Value = serde_json::from_slice(&after).unwrap();
    assert_eq!(json["Finished"], true);
    assert_eq!(json["ID"], "inplace");
    upload.finish().await.unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("inplace.info")).unwrap(),
        after
    );
}

#[tokio::test]
async fn file_store_refuses_ids_that_name_other_paths() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("inner"));
    std::fs::write(dir.path().join("secret.info"), b"{}").unwrap();
    for id in ["../secret", "..", "a/b", "a\0b", "x.info", ""] {
        assert!(
            matches!(
                store.get_upload(id).await.map(drop),
                Err(StoreError::NotFound)
            ),
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
async fn a_new_file_store_over_the_folder_sees_every_durable_state() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(5000);
    {
        let store = FileStore::new(dir.path());
        let mut upload = store
            .new_upload(FileInfo::new("crash").with_size(Some(5000)))
            .await
            .unwrap();
        assert_eq!(write(&mut upload, &[&data[..1234]]).await, 1234);
        let mut deferred = store.new_upload(FileInfo::new("deferred")).await.unwrap();
        deferred.declare_length(7).await.unwrap();
        let mut done = store
            .new_upload(FileInfo::new("done").with_size(Some(2)))
            .await
            .unwrap();
        write(&mut done, &[b"ok"]).await;
        done.finish().await.unwrap();
        // The process dies here: nothing is closed or flushed on purpose.
        std::mem::forget((upload, deferred, done));
    }
    let store = FileStore::new(dir.path());
    let upload = store.get_upload("crash").await.unwrap();
    assert_eq!(upload.info().offset, 1234);
    assert_eq!(
        std::fs::read(dir.path().join("crash")).unwrap(),
        &data[..1234]
    );
    assert_eq!(
        store.get_upload("deferred").await.unwrap().info().size,
        Some(7)
    );
    assert!(store.get_upload("done").await.unwrap().info().finished);
}

#[tokio::test]
async fn a_chunk_staged_when_the_process_died_is_never_seen() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path());
    let mut upload = store
        .new_upload(FileInfo::new("staged").with_size(Some(10)))
        .await
        .unwrap();
    write(&mut upload, &[b"abc"]).await;
    // What a verified write leaves behind when killed mid-chunk.
    std::fs::write(dir.path().join("staged.chunk"), b"unverified").unwrap();
    let store = FileStore::new(dir.path());
    let mut upload = store.get_upload("staged").await.unwrap();
    assert_eq!(upload.info().offset, 3);
    assert_eq!(write(&mut upload, &[b"def"]).await, 6);
    assert_eq!(std::fs::read(dir.path().join("staged")).unwrap(), b"abcdef");
    upload.terminate().await.unwrap();
    assert!(!dir.path().join("staged.chunk").exists());
}

#[tokio::test]
async fn a_concatenation_cut_short_leaves_the_final_empty_and_is_redone() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path());
    let mut partials = Vec::new();
    for (id, bytes) in [("c1", &b"abc"[..]), ("c2", b"de")] {
        let mut info = FileInfo::new(id).with_size(Some(bytes.len() as u64));
        info.is_partial = true;
        let mut p = store.new_upload(info).await.unwrap();
        write(&mut p, &[bytes]).await;
        p.finish().await.unwrap();
        partials.push(p.info().clone());
    }
    let mut fin = FileInfo::new("cf").with_size(Some(5));
    fin.is_final = true;
    fin.partial_uploads = vec!["c1".into(), "c2".into()];
    store.new_upload(fin).await.unwrap();
    // A concatenation killed midway leaves its staging file, not the final.
    std::fs::write(dir.path().join("cf.concat"), b"ab").unwrap();
    let store = FileStore::new(dir.path());
    let mut fin = store.get_upload("cf").await.unwrap();
    assert_eq!(fin.info().offset, 0);
    fin.concatenate(&partials).await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("cf")).unwrap(), b"abcde");
    assert!(!dir.path().join("cf.concat").exists());
}

#[tokio::test]
async fn info_rewrites_leave_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path());
    let mut info = FileInfo::new("p").with_size(Some(1));
    info.is_partial = true;
    let mut p = store.new_upload(info).await.unwrap();
    for i in 0..5 {
        p.add_final(&format!("f{i}")).await.unwrap();
    }
    p.finish().await.unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, vec!["p", "p.info"]);
}

#[tokio::test]
async fn memory_store_is_shared_between_clones() {
    let a = MemoryStore::new();
    let b = a.clone();
    a.new_upload(FileInfo::new("shared").with_size(Some(1)))
        .await
        .unwrap();
    assert!(b.get_upload("shared").await.is_ok());
}

#[tokio::test]
async fn limited_store_refuses_a_deferred_upload_past_its_limit() {
    let store = LimitedStore::new(10, MemoryStore::new());
    let mut upload = store.new_upload(FileInfo::new("d")).await.unwrap();
    let mut body = tower_tus::body::UploadBody::new(Frames::new(&[&pattern(25)]), u64::MAX);
    let err = upload.write(&mut body).await.unwrap_err();
    assert!(matches!(err, StoreError::InsufficientStorage), "{err:?}");
    assert_eq!(store.get_upload("d").await.unwrap().info().offset, 10);
    assert_eq!(store.reserved().await, 10);
}

#[tokio::test]
async fn a_finish_whose_bytes_would_straddle_a_sector_rewrites_the_info_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path());
    // Grow the metadata until the `.info` ends 3 bytes into a sector.
    for pad in 0..600 {
        let id = format!("s{pad}");
        let mut md = tower_tus::metadata::Metadata::new();
        md.insert("pad", "x".repeat(pad));
        let mut upload = store
            .new_upload(FileInfo::new(&id).with_size(Some(1)).with_metadata(md))
            .await
            .unwrap();
        let path = dir.path().join(format!("{id}.info"));
        let len = std::fs::metadata(&path).unwrap().len();
        if len % 512 != 3 {
            upload.terminate().await.unwrap();
            continue;
        }
        write(&mut upload, &[b"x"]).await;
        upload.finish().await.unwrap();
        let after = std::fs::read(&path).unwrap();
        assert_ne!(after.len() as u64, len, "not flipped in place");
        let json: serde_json::Value = serde_json::from_slice(&after).unwrap();
        assert_eq!(json["Finished"], true);
        assert!(store.get_upload(&id).await.unwrap().info().finished);
        return;
    }
    panic!("no padding ended the .info 3 bytes into a sector");
}
