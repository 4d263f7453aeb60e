//! `S3Store` against real S3 servers (moto and SeaweedFS, on 127.0.0.1): the
//! store conformance suite, and uploads over the HTTP surface across parts,
//! interruptions and restarts.

mod common;

use std::sync::Arc;

use common::s3::Server;
use common::{call, create, empty, offset, patch, tus};
use http::{Method, StatusCode};
use tower_tus::store::DataStore;
use tower_tus::{Config, StoreComposer, UploadHandler};

/// The conformance suite as a module of tests over stores from `$store`.
macro_rules! conformance_on {
    ($module:ident, $store:path; $($case:ident),* $(,)?) => {
        mod $module {
            $(#[tokio::test]
            async fn $case() {
                let Some(store) = $store(stringify!($case)).await else {
                    return;
                };
                tower_tus::testing::run_case(stringify!($case), std::sync::Arc::new(store)).await;
            })*
        }
    };
}

tower_tus::__store_conformance_cases!((conformance_on)(conformance, crate::common::s3::store;));
tower_tus::__store_conformance_cases!((conformance_on)(seaweedfs_conformance, crate::common::s3::seaweedfs_store;));

/// Creates an upload of deferred length; its URL.
async fn create_deferred(h: &UploadHandler) -> String {
    let r = call(
        h,
        empty(tus(Method::POST, "/files/").header("upload-defer-length", "1")),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.header("location").unwrap().to_owned()
}

/// Upload `url`'s bytes, read through a new store over `bucket`.
async fn downloaded(server: Server, bucket: &str, url: &str) -> bytes::Bytes {
    let r = call(
        &handler(server.over(bucket)),
        empty(http::Request::get(url)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.body
}

/// The `.info` of upload `url` in `bucket`, as stored.
async fn stored_info(server: Server, bucket: &str, url: &str) -> String {
    let key = format!("{}.info", common::id_of(url).split('+').next().unwrap());
    let got = server
        .client()
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    String::from_utf8(got.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
}

/// Writes upload `object` into `bucket` as tusd's s3store leaves it: of
/// `size` bytes, `parts` uploaded, `tail` in a `.part` without a marker,
/// and tusd's `.info` (`metadata` as its JSON). Its URL.
async fn tusd_made(
    server: Server,
    bucket: &str,
    object: &str,
    metadata: &str,
    (size, parts, tail): (usize, &[&[u8]], &[u8]),
) -> String {
    let client = server.client();
    let multipart = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(object)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    for (i, part) in parts.iter().enumerate() {
        client
            .upload_part()
            .bucket(bucket)
            .key(object)
            .upload_id(&multipart)
            .part_number(i as i32 + 1)
            .body(part.to_vec().into())
            .send()
            .await
            .unwrap();
    }
    put(server, bucket, &format!("{object}.part"), tail.to_vec()).await;
    let id = format!("{object}+{multipart}");
    let info = format!(
        r#"{{"ID":"{id}","Size":{size},"SizeIsDeferred":false,"Offset":0,"MetaData":{metadata},"IsPartial":false,"IsFinal":false,"PartialUploads":null,"Storage":{{"Type":"s3store","Bucket":"{bucket}","Key":"{object}"}}}}"#
    );
    put(server, bucket, &format!("{object}.info"), info.into_bytes()).await;
    format!("/files/{id}")
}

/// Writes object `key` of `bucket` straight, as another S3 client would.
async fn put(server: Server, bucket: &str, key: &str, body: Vec<u8>) {
    server
        .client()
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
}

fn handler(store: tower_tus::store::S3Store) -> UploadHandler {
    let mut composer = StoreComposer::new();
    store.use_in(&mut composer);
    UploadHandler::new(Config::new(composer))
}

async fn downloads_wait_for_the_upload_to_finish(server: Server, bucket: String) {
    let h = handler(server.over(&bucket));
    let url = create(&h, 10).await;
    assert_eq!(
        patch(&h, &url, 0, b"01234").await.status,
        StatusCode::NO_CONTENT
    );
    let r = call(&h, empty(http::Request::get(&url))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("not finished"));
}

async fn ids_carry_the_multipart_upload_as_tusd_s_do(server: Server, bucket: String) {
    let store: Arc<dyn DataStore> = Arc::new(server.over(&bucket));
    let upload = store
        .new_upload(tower_tus::FileInfo::new("abc").with_size(Some(3)))
        .await
        .unwrap();
    let (object, multipart) = upload.info().id.split_once('+').unwrap();
    assert_eq!(object, "abc");
    assert!(!multipart.is_empty());
    assert_eq!(
        upload.info().storage.get("Type").map(String::as_str),
        Some("s3store")
    );
}

async fn a_bucket_prepared_in_tusd_s_layout_is_served(server: Server, bucket: String) {
    let part = server.part();
    let data = common::pattern(2 * part - 48);
    let cut = part + 300;
    // What tusd leaves after one part and 300 bytes: the tail has no marker.
    let url = tusd_made(
        server,
        &bucket,
        "obj",
        r#"{"filename":"tusd.bin"}"#,
        (data.len(), &[&data[..part]], &data[part..cut]),
    )
    .await;
    let h = handler(server.over(&bucket));
    assert_eq!(offset(&h, &url).await, Some(cut as u64));
    let r = patch(&h, &url, cut as u64, &data[cut..]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = call(
        &handler(server.over(&bucket)),
        empty(http::Request::get(&url)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body[..] == data[..]);
}

#[tokio::test]
async fn more_parts_than_one_listing_page_holds() {
    let Some(store) = common::s3::store("more_parts_than_one_listing_page_holds").await else {
        return;
    };
    let (server, bucket) = (Server::Moto, store.bucket().to_owned());
    // 1,100 parts of 1 KiB: ListParts answers 1,000 at a time.
    let data = common::pattern(1100 * 1024 + 10);
    let h = handler(store);
    let url = create(&h, data.len() as u64 + 1).await;
    let r = patch(&h, &url, 0, &data).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let fresh = handler(server.over(&bucket));
    assert_eq!(offset(&fresh, &url).await, Some(data.len() as u64));
    let r = patch(&fresh, &url, data.len() as u64, b"!").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = call(&fresh, empty(http::Request::get(&url))).await;
    assert_eq!(r.body.len(), data.len() + 1);
    assert!(r.body[..data.len()] == data[..] && r.body[data.len()] == b'!');
}

async fn an_object_id_with_a_plus_is_refused(server: Server, bucket: String) {
    let err = server
        .over(&bucket)
        .new_upload(tower_tus::FileInfo::new("a+b").with_size(Some(1)))
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, tower_tus::StoreError::Conflict(_)), "{err:?}");
}

async fn the_object_carries_filetype_and_metadata_as_tusd_s_do(server: Server, bucket: String) {
    let h = handler(server.over(&bucket));
    // filetype "text/plain", filename "é.txt" (not ASCII: replaced, as tusd does)
    let r = call(
        &h,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-length", "5")
                .header(
                    "upload-metadata",
                    "filetype dGV4dC9wbGFpbg==,filename w6kudHh0",
                ),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let url = r.header("location").unwrap().to_owned();
    assert_eq!(
        patch(&h, &url, 0, b"hello").await.status,
        StatusCode::NO_CONTENT
    );
    let object = url.rsplit('/').next().unwrap().split('+').next().unwrap();
    let head = server
        .client()
        .head_object()
        .bucket(&bucket)
        .key(object)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/plain"));
    let metadata = head.metadata().unwrap();
    assert_eq!(
        metadata.get("filetype").map(String::as_str),
        Some("text/plain")
    );
    assert_eq!(metadata.get("filename").map(String::as_str), Some("?.txt"));
}

fn rule(method: &'static str, needle: &str, fault: common::s3::Fault) -> common::s3::Rule {
    common::s3::Rule {
        method,
        needle: needle.to_owned(),
        fault,
        times: usize::MAX,
    }
}

async fn a_tail_that_cannot_be_deleted_never_counts_twice(server: Server, bucket: String) {
    use common::s3::Fault;
    // Every deletion of a `.part` fails, retries and all.
    let (store, _) = server
        .watched(&bucket, vec![rule("DELETE", ".part", Fault::Refuse)])
        .await;
    // Below one part: the tail and the rest make the only, last part.
    let data = common::pattern(500);
    let h = handler(store);
    let url = create(&h, 500).await;
    assert_eq!(
        patch(&h, &url, 0, &data[..300]).await.status,
        StatusCode::NO_CONTENT
    );
    let r = patch(&h, &url, 300, &data[300..]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(r.header("upload-offset"), Some("500"));
    let fresh = handler(server.over(&bucket));
    assert_eq!(offset(&fresh, &url).await, Some(500));
    let r = call(&fresh, empty(http::Request::get(&url))).await;
    assert!(r.body[..] == data[..], "{} bytes", r.body.len());
}

async fn tusd_s_unmarked_tail_never_counts_twice_after_a_failed_delete(
    server: Server,
    bucket: String,
) {
    use common::s3::Fault;
    let (store, _) = server
        .watched(&bucket, vec![rule("DELETE", ".part", Fault::Refuse)])
        .await;
    let client = server.client();
    let part = server.part();
    let data = common::pattern(3 * part - 72);
    // tusd's state after 300 bytes: no part, a tail without a marker.
    let url = tusd_made(server, &bucket, "t", "{}", (data.len(), &[], &data[..300])).await;
    let h = handler(store);
    // The tail goes into part 1, the PATCH ends on a part's end, and
    // deleting the `.part` fails: it stays, and must not count again.
    let r = patch(&h, &url, 300, &data[300..2 * part]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let end = (2 * part).to_string();
    assert_eq!(r.header("upload-offset"), Some(end.as_str()));
    let left = client
        .head_object()
        .bucket(&bucket)
        .key("t.part")
        .send()
        .await;
    assert!(left.is_ok(), "the `.part` is still there");
    assert_eq!(
        offset(&handler(server.over(&bucket)), &url).await,
        Some(2 * part as u64)
    );
}

async fn a_completion_whose_answer_was_lost_still_finishes(server: Server, bucket: String) {
    use common::s3::Fault;
    // CompleteMultipartUpload is a POST with `uploadId=`: carried out once
    // and answered 500, so the client retries, and the retry hears that the
    // multipart upload is gone.
    let (store, _) = server
        .watched(
            &bucket,
            vec![
                common::s3::Rule {
                    times: 1,
                    ..rule("POST", "uploadId=", Fault::LoseAnswer)
                },
                common::s3::Rule {
                    times: 1,
                    ..rule("POST", "uploadId=", Fault::NoSuchUpload)
                },
            ],
        )
        .await;
    let data = common::pattern(2 * server.part() + 452);
    let h = handler(store);
    let url = create(&h, data.len() as u64).await;
    let r = patch(&h, &url, 0, &data).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = call(
        &handler(server.over(&bucket)),
        empty(http::Request::get(&url)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body[..] == data[..]);
}

async fn parts_go_up_several_at_once_never_more_than_configured(server: Server, bucket: String) {
    use common::s3::Fault;
    // Each part upload takes a while, so uploads overlap when they can.
    let (store, traffic) = server
        .watched(&bucket, vec![rule("PUT", "partNumber=", Fault::Delay(150))])
        .await;
    let h = handler(store.concurrent_part_uploads(3));
    let data = common::pattern(8 * server.part() + 100);
    let url = create(&h, data.len() as u64).await;
    let r = patch(&h, &url, 0, &data).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(traffic.most_parts_at_once(), 3);
    let mut accepted = traffic.parts_accepted();
    accepted.sort();
    assert_eq!(accepted, (1..=9).collect::<Vec<_>>());
    assert!(downloaded(server, &bucket, &url).await[..] == data[..]);
}

async fn the_body_waits_while_its_parts_cannot_drain(server: Server, bucket: String) {
    use common::s3::Fault;
    let (store, _) = server
        .watched(
            &bucket,
            // The first part takes 3 s; with one upload at a time, the others wait.
            vec![common::s3::Rule {
                times: 1,
                ..rule("PUT", "partNumber=", Fault::Delay(3000))
            }],
        )
        .await;
    let h = handler(store.concurrent_part_uploads(1).max_buffered_parts(2));
    // Chunks of one part each.
    let part = server.part();
    let data = common::pattern(32 * part);
    let url = create(&h, data.len() as u64).await;
    let (tx, reply) = common::streaming_patch(&h, &url);
    let mut sent = 0;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
    for chunk in data.chunks(part) {
        let chunk = bytes::Bytes::copy_from_slice(chunk);
        match tokio::time::timeout_at(deadline, tx.send(chunk)).await {
            Ok(sent_ok) => {
                sent_ok.unwrap();
                sent += 1;
            }
            Err(_) => break,
        }
    }
    // The test's channel holds 16 chunks; the store two parts and the one
    // it fills. Everything else waits.
    assert!(
        sent <= 16 + 3 + 2,
        "{sent} parts went in while no part drained"
    );
    for chunk in data.chunks(part).skip(sent) {
        tx.send(bytes::Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    drop(tx);
    let r = reply.await.unwrap();
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert!(downloaded(server, &bucket, &url).await[..] == data[..]);
}

async fn part_buffers_stay_within_the_memory_budget_and_spill_to_files(
    server: Server,
    bucket: String,
) {
    use common::s3::Fault;
    let (store, _) = server
        .watched(&bucket, vec![rule("PUT", "partNumber=", Fault::Delay(100))])
        .await;
    let spill = tempfile::tempdir().unwrap();
    let part = server.part();
    let budget = 4 * part;
    let store = store.memory_budget(budget as u64).spill_dir(spill.path());
    let h = handler(store.clone());
    // Fifty uploads at once, each of several parts.
    let data: Vec<Vec<u8>> = (0..50)
        .map(|i| common::pattern(2 * part + 1 + i * 10))
        .collect();
    let mut urls = Vec::new();
    for d in &data {
        urls.push(create(&h, d.len() as u64).await);
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = {
        let (store, done, dir) = (store.clone(), done.clone(), spill.path().to_owned());
        tokio::spawn(async move {
            let (mut most, mut spilled) = (0, 0);
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                most = most.max(store.buffered_bytes());
                spilled = spilled.max(std::fs::read_dir(&dir).unwrap().count());
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            (most, spilled)
        })
    };
    let patches: Vec<_> = urls
        .iter()
        .cloned()
        .zip(data.iter().cloned())
        .map(|(url, d)| {
            let h = h.clone();
            tokio::spawn(async move { patch(&h, &url, 0, &d).await })
        })
        .collect();
    for r in patches {
        let r = r.await.unwrap();
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (most, spilled) = watch.await.unwrap();
    assert!(most <= budget as u64, "{most} bytes in memory");
    assert!(most > 0 && spilled > 0, "memory {most}, files {spilled}");
    assert_eq!(store.buffered_bytes(), 0);
    assert_eq!(std::fs::read_dir(spill.path()).unwrap().count(), 0);
    let fresh = handler(server.over(&bucket));
    for (url, d) in urls.iter().zip(&data) {
        let r = call(&fresh, empty(http::Request::get(url))).await;
        assert!(r.body[..] == d[..]);
    }
}

async fn a_failed_part_leaves_a_hole_that_later_parts_never_cover(server: Server, bucket: String) {
    use common::s3::Fault;
    // Part 1 fails for good; parts 2 to 4 of the same PATCH go through.
    let (store, traffic) = server
        .watched(&bucket, vec![rule("PUT", "partNumber=1&", Fault::Refuse)])
        .await;
    let part = server.part();
    let data = common::pattern(5 * part - 120);
    let h = handler(store.clone());
    let url = create(&h, data.len() as u64).await;
    // 300 bytes: the tail, which part 1 would have taken in.
    assert_eq!(patch(&h, &url, 0, &data[..300]).await.status, 204);
    let r = patch(&h, &url, 300, &data[300..4 * part + 204]).await;
    assert!(r.status.is_server_error(), "{} {}", r.status, r.text());
    // Its part buffers went back, the one of the bytes past the hole too.
    assert_eq!(store.buffered_bytes(), 0);
    // The tail still counts: no part holds its bytes.
    let fresh = handler(server.over(&bucket));
    assert_eq!(offset(&fresh, &url).await, Some(300));
    let info = stored_info(server, &bucket, &url).await;
    assert!(info.contains(r#""DeadParts":"1-4""#), "{info}");
    let r = patch(&fresh, &url, 300, &data[300..]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = call(&fresh, empty(http::Request::get(&url))).await;
    assert!(r.body[..] == data[..], "{} bytes", r.body.len());
    let accepted = traffic.parts_accepted();
    let mut unique = accepted.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        accepted.len(),
        unique.len(),
        "a number went up twice: {accepted:?}"
    );
}

async fn a_hole_left_unrecorded_is_found_by_the_next_load(server: Server, bucket: String) {
    use common::s3::Fault;
    // Part 1 fails, and the `.info` cannot be written to record the hole:
    // as after a crash while parts were in flight.
    let (faulty, _) = server
        .watched(
            &bucket,
            vec![
                rule("PUT", "partNumber=1&", Fault::Refuse),
                rule("PUT", ".info", Fault::Refuse),
            ],
        )
        .await;
    let part = server.part();
    let data = common::pattern(5 * part - 120);
    let direct = handler(server.over(&bucket));
    let url = create(&direct, data.len() as u64).await;
    assert_eq!(patch(&direct, &url, 0, &data[..300]).await.status, 204);
    let faulty = handler(faulty);
    let r = patch(&faulty, &url, 300, &data[300..4 * part + 204]).await;
    assert!(r.status.is_server_error(), "{} {}", r.status, r.text());
    let fresh = handler(server.over(&bucket));
    assert_eq!(offset(&fresh, &url).await, Some(300));
    let r = patch(&fresh, &url, 300, &data[300..]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = call(&fresh, empty(http::Request::get(&url))).await;
    assert!(r.body[..] == data[..], "{} bytes", r.body.len());
}

async fn a_deferred_upload_records_parts_that_grow(server: Server, bucket: String) {
    let h = handler(server.over(&bucket));
    let url = create_deferred(&h).await;
    let equal = handler(server.over(&bucket).equal_part_sizes(true));
    let equal_url = create_deferred(&equal).await;
    let part_size = format!(r#""PartSize":"{}""#, server.part());
    let growing = stored_info(server, &bucket, &url).await;
    assert!(growing.contains(&part_size), "{growing}");
    assert!(
        growing.contains(r#""PartSizeDoublesEvery":"1000""#),
        "{growing}"
    );
    let equal = stored_info(server, &bucket, &equal_url).await;
    assert!(equal.contains(&part_size), "{equal}");
    assert!(!equal.contains("DoublesEvery"), "{equal}");
    // The deferred upload streams and finishes as any other.
    let data = common::pattern(3 * server.part() - 72);
    let half = data.len() / 2;
    let r = patch(&h, &url, 0, &data[..half]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = call(
        &h,
        common::data(
            tus(Method::PATCH, &url)
                .header("upload-offset", half)
                .header("upload-length", data.len()),
            &data[half..],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = call(&h, empty(http::Request::get(&url))).await;
    assert!(r.body[..] == data[..]);
}

async fn no_upload_takes_a_part_past_ten_thousand(server: Server, bucket: String) {
    let part = server.part();
    let equal = || server.over(&bucket).equal_part_sizes(true);
    let h = handler(equal());
    let url = create_deferred(&h).await;
    // Equal parts hold 10,000 parts' worth at most.
    let r = call(
        &h,
        common::data(
            tus(Method::PATCH, &url)
                .header("upload-offset", 0)
                .header("upload-length", 10_000 * part + 1),
            b"",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    // All numbers but the last two used up, as by holes.
    let mut info: serde_json::Value =
        serde_json::from_str(&stored_info(server, &bucket, &url).await).unwrap();
    info["Storage"]["DeadParts"] = "1-9998".into();
    let key = format!("{}.info", common::id_of(&url).split('+').next().unwrap());
    put(server, &bucket, &key, serde_json::to_vec(&info).unwrap()).await;
    let h = handler(equal());
    // Parts 9,999 and 10,000 go in; a third whole part would be 10,001.
    let data = common::pattern(3 * part + 10);
    let r = patch(&h, &url, 0, &data).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert_eq!(offset(&handler(equal()), &url).await, Some(2 * part as u64));
    let r = call(
        &h,
        common::data(
            tus(Method::PATCH, &url)
                .header("upload-offset", 2 * part)
                .header("upload-length", 2 * part + 1),
            b"",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
}

async fn a_concatenation_that_failed_midway_completes_without_copying_twice(
    server: Server,
    bucket: String,
) {
    use common::s3::Fault;
    // The copy into part 2 fails, retries and all, the first time round.
    let (store, traffic) = server
        .watched(
            &bucket,
            vec![common::s3::Rule {
                times: 3,
                ..rule("PUT", "partNumber=2&", Fault::Refuse)
            }],
        )
        .await;
    let h = handler(store);
    // One part each.
    let part = server.part();
    let a = common::create_partial(&h, part).await;
    let b = common::create_partial(&h, part - 24).await;
    let (data_a, data_b) = (common::pattern(part), vec![3u8; part - 24]);
    assert_eq!(patch(&h, &a, 0, &data_a).await.status, 204);
    assert_eq!(patch(&h, &b, 0, &data_b).await.status, 204);
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-concat", format!("final;{a} {b}"))),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let fin = r.header("location").unwrap().to_owned();
    // Not complete yet: no object. The next look at it completes it.
    let object = common::id_of(&fin).split('+').next().unwrap().to_owned();
    let head = server
        .client()
        .head_object()
        .bucket(&bucket)
        .key(&object)
        .send()
        .await;
    assert!(head.is_err(), "the final's object is not there yet");
    let fresh = handler(server.over(&bucket));
    common::eventually(10, || {
        let (fresh, fin) = (fresh.clone(), fin.clone());
        async move {
            call(&fresh, empty(tus(Method::HEAD, &fin)))
                .await
                .header("upload-offset")
                == Some((2 * part - 24).to_string().as_str())
        }
    })
    .await;
    let r = call(&fresh, empty(http::Request::get(&fin))).await;
    assert!(r.body[..] == [&data_a[..], &data_b].concat()[..]);
    // Part 1 of the final was copied once; the uploads of the partials' own
    // part 1 count too (each partial has one part).
    let ones = traffic.parts_accepted().iter().filter(|&&n| n == 1).count();
    assert_eq!(ones, 3, "{:?}", traffic.parts_accepted());
}

async fn a_writer_that_lost_the_upload_never_replaces_a_newer_tail(server: Server, bucket: String) {
    let store = server.over(&bucket);
    let data = common::pattern(5000);
    let h = handler(store.clone());
    let url = create(&h, 5000).await;
    assert_eq!(patch(&h, &url, 0, &data[..300]).await.status, 204);
    // A writer outside any lock (as one whose lock was lost) starts ...
    let mut stale = store.get_upload(&common::id_of(&url)).await.unwrap();
    let (tx, body) = tower_tus::testing::Channel::new();
    let mut body = tower_tus::body::UploadBody::new(body, 4700);
    let writer = tokio::spawn(async move { stale.write(&mut body).await });
    tx.send(bytes::Bytes::copy_from_slice(&data[300..400]))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // ... and the upload's new holder writes and is answered meanwhile.
    let r = patch(&h, &url, 300, &data[300..500]).await;
    assert_eq!(r.header("upload-offset"), Some("500"), "{}", r.text());
    drop(tx);
    let stale = writer.await.unwrap();
    assert!(
        matches!(stale, Err(tower_tus::StoreError::Conflict(_))),
        "{stale:?}"
    );
    let fresh = handler(server.over(&bucket));
    assert_eq!(
        offset(&fresh, &url).await,
        Some(500),
        "the answered bytes stay"
    );
    assert_eq!(patch(&fresh, &url, 500, &data[500..]).await.status, 204);
    assert!(downloaded(server, &bucket, &url).await[..] == data[..]);
}

async fn throttling_is_retried_then_answered_503_with_retry_after(server: Server, bucket: String) {
    use common::s3::Fault;
    let direct = handler(server.over(&bucket));
    let url = create(&direct, 10).await;
    // Throttled once: the client's retry goes through.
    let (once, traffic) = server
        .proxy(vec![common::s3::Rule {
            times: 1,
            ..rule("GET", ".info", Fault::SlowDown)
        }])
        .await;
    let h = handler(server.through(&once, &bucket));
    let r = call(&h, empty(tus(Method::HEAD, &url))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(traffic.count("GET", ".info"), 2, "tried again");
    // Throttled for good: 503, with when to come back.
    let (always, traffic) = server
        .proxy(vec![rule("GET", ".info", Fault::SlowDown)])
        .await;
    let h = handler(server.through(&always, &bucket));
    let r = call(&h, empty(tus(Method::HEAD, &url))).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
    assert!(
        traffic.count("GET", ".info") >= 2,
        "retried before giving up"
    );
}

/// Runs `scenario` on moto and on SeaweedFS, each over a fresh bucket.
macro_rules! on_both_servers {
    ($($scenario:ident),* $(,)?) => {
        mod moto {
            use crate::common::s3::Server;
            $(#[tokio::test]
            async fn $scenario() {
                let Some(store) = crate::common::s3::store(stringify!($scenario)).await else {
                    return;
                };
                super::$scenario(Server::Moto, store.bucket().to_owned()).await;
            })*
        }
        mod seaweedfs {
            use crate::common::s3::Server;
            $(#[tokio::test]
            async fn $scenario() {
                let Some(store) = crate::common::s3::seaweedfs_store(stringify!($scenario)).await
                else {
                    return;
                };
                super::$scenario(Server::SeaweedFs, store.bucket().to_owned()).await;
            })*
        }
    };
}

on_both_servers!(
    downloads_wait_for_the_upload_to_finish,
    ids_carry_the_multipart_upload_as_tusd_s_do,
    a_bucket_prepared_in_tusd_s_layout_is_served,
    an_object_id_with_a_plus_is_refused,
    the_object_carries_filetype_and_metadata_as_tusd_s_do,
    a_tail_that_cannot_be_deleted_never_counts_twice,
    tusd_s_unmarked_tail_never_counts_twice_after_a_failed_delete,
    a_completion_whose_answer_was_lost_still_finishes,
    parts_go_up_several_at_once_never_more_than_configured,
    the_body_waits_while_its_parts_cannot_drain,
    part_buffers_stay_within_the_memory_budget_and_spill_to_files,
    a_failed_part_leaves_a_hole_that_later_parts_never_cover,
    a_hole_left_unrecorded_is_found_by_the_next_load,
    a_deferred_upload_records_parts_that_grow,
    no_upload_takes_a_part_past_ten_thousand,
    a_concatenation_that_failed_midway_completes_without_copying_twice,
    a_writer_that_lost_the_upload_never_replaces_a_newer_tail,
    throttling_is_retried_then_answered_503_with_retry_after,
    a_partial_being_deleted_never_takes_a_final,
    a_writer_that_saw_half_of_another_s_patch_never_writes,
    a_head_right_after_a_cut_tells_every_byte_that_arrived,
    a_termination_stopped_midway_takes_no_final_and_ends_at_the_next_look,
    an_upload_across_parts_with_a_restart_between_each_patch,
    a_deferred_length_keeps_its_tail_at_finish,
    the_sweep_removes_expired_uploads_from_the_bucket,
    interrupted_anywhere_within_or_between_parts_the_upload_keeps_what_arrived,
    downloads_may_go_straight_from_the_bucket_by_a_presigned_url,
    finals_join_partials_by_copy_and_refuse_small_ones_in_the_middle,
    creation_with_upload_and_ranged_downloads_through_the_store,
);

async fn interrupted_anywhere_within_or_between_parts_the_upload_keeps_what_arrived(
    server: Server,
    bucket: String,
) {
    use tokio::io::AsyncWriteExt;
    let part = server.part();
    let data = common::pattern(5 * part + 77);
    let len = data.len();
    let url = create(&handler(server.over(&bucket)), len as u64).await;
    // Cuts at random (a fixed seed), and on part boundaries.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut cuts: Vec<usize> = (0..4)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            1 + (seed % (len as u64 - 1)) as usize
        })
        .chain([2 * part, 3 * part, 3 * part + 1])
        .collect();
    cuts.sort();
    cuts.dedup();
    let mut at = 0;
    for cut in cuts {
        // A new store and server for every cut, as after a restart.
        let h = handler(server.over(&bucket));
        let (addr, listening) = common::serve(h.clone()).await;
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {at}\r\n\
             Content-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
            len - at
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&data[at..cut]).await.unwrap();
        stream.flush().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        drop(stream);
        // Asked at once, as a resuming client does: every byte sent counts.
        assert_eq!(offset(&h, &url).await, Some(cut as u64), "cut at {cut}");
        listening.abort();
        at = cut;
    }
    let h = handler(server.over(&bucket));
    let r = patch(&h, &url, at as u64, &data[at..]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = call(&h, empty(http::Request::get(&url))).await;
    assert!(r.body[..] == data[..], "{} bytes", r.body.len());
}

async fn downloads_may_go_straight_from_the_bucket_by_a_presigned_url(
    server: Server,
    bucket: String,
) {
    use http_body_util::BodyExt;
    let h = handler(
        server
            .over(&bucket)
            .presigned_downloads(std::time::Duration::from_secs(60)),
    );
    let data = common::pattern(server.part() + 3000);
    let url = create(&h, data.len() as u64).await;
    assert_eq!(patch(&h, &url, 0, &data).await.status, 204);
    let r = call(
        &h,
        empty(http::Request::get(&url).header("range", "bytes=100-199")),
    )
    .await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    assert!(location.contains("X-Amz-Signature="), "{location}");
    // The client follows with its own Range; the server checks the signature.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let res = client
        .request(
            http::Request::get(&location)
                .header("range", "bytes=100-199")
                .body(http_body_util::Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(body[..] == data[100..200]);
}

async fn finals_join_partials_by_copy_and_refuse_small_ones_in_the_middle(
    server: Server,
    bucket: String,
) {
    let part = server.part();
    let h = handler(server.over(&bucket));
    let (len_a, len_b) = (2 * part + 452, part + 776);
    let small = common::create_partial(&h, 100).await;
    let a = common::create_partial(&h, len_a).await;
    let b = common::create_partial(&h, len_b).await;
    // Below the minimum part size and not last: refused at once.
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-concat", format!("final;{small} {a}"))),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("minimum part size"), "{}", r.text());
    // Last, a small partial is fine; unfinished partials too
    // (concatenation-unfinished): the final completes with the last one.
    let data_a = common::pattern(len_a);
    let data_b: Vec<u8> = common::pattern(len_b).iter().map(|x| x ^ 0x5a).collect();
    let data_s = vec![7u8; 100];
    assert_eq!(patch(&h, &a, 0, &data_a).await.status, 204);
    let r = call(
        &h,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-concat", format!("final;{a} {b} {a} {small}")),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let fin = r.header("location").unwrap().to_owned();
    // A restart, then the rest of the partials.
    let h = handler(server.over(&bucket));
    assert_eq!(patch(&h, &b, 0, &data_b).await.status, 204);
    assert_eq!(patch(&h, &small, 0, &data_s).await.status, 204);
    let expected = [&data_a[..], &data_b, &data_a, &data_s].concat();
    let r = call(&h, empty(tus(Method::HEAD, &fin))).await;
    assert_eq!(
        r.header("upload-offset"),
        Some(expected.len().to_string().as_str()),
        "{:?}",
        r.headers
    );
    let r = call(&h, empty(http::Request::get(&fin))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body[..] == expected[..], "{} bytes", r.body.len());
}

async fn creation_with_upload_and_ranged_downloads_through_the_store(
    server: Server,
    bucket: String,
) {
    let part = server.part();
    let h = handler(server.over(&bucket));
    let data = common::pattern(3 * part + 100);
    let first = 2 * part + 300;
    // Creation with the first bytes: two parts and a tail.
    let r = call(
        &h,
        common::data(
            tus(Method::POST, "/files/").header("upload-length", data.len()),
            &data[..first],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.header("upload-offset"), Some(first.to_string().as_str()));
    let url = r.header("location").unwrap().to_owned();
    let fresh = handler(server.over(&bucket));
    assert_eq!(
        patch(&fresh, &url, first as u64, &data[first..])
            .await
            .status,
        204
    );
    let (from, to) = (part - 10, 2 * part + 9);
    let r = call(
        &fresh,
        empty(http::Request::get(&url).header("range", format!("bytes={from}-{to}"))),
    )
    .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT, "{}", r.text());
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes {from}-{to}/{}", data.len()).as_str())
    );
    assert!(r.body[..] == data[from..=to]);
}

async fn an_upload_across_parts_with_a_restart_between_each_patch(server: Server, bucket: String) {
    let part = server.part();
    let data = common::pattern(5 * part - 120);
    let url = create(&handler(server.over(&bucket)), data.len() as u64).await;
    // PATCHes cut anywhere, each through a new store as after a restart.
    let mut at = 0;
    for len in [700, part + 800, 1, part - 1, data.len() - 2 * part - 1500] {
        let h = handler(server.over(&bucket));
        let r = patch(&h, &url, at as u64, &data[at..at + len]).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        at += len;
        assert_eq!(r.header("upload-offset"), Some(at.to_string().as_str()));
        assert_eq!(offset(&h, &url).await, Some(at as u64));
    }
    assert_eq!(at, data.len());
    let body = call(
        &handler(server.over(&bucket)),
        empty(http::Request::get(&url)),
    )
    .await
    .body;
    assert!(body[..] == data[..], "the object holds the bytes in order");
}

async fn a_deferred_length_keeps_its_tail_at_finish(server: Server, bucket: String) {
    let h = handler(server.over(&bucket));
    let url = create_deferred(&h).await;
    let data = common::pattern(2 * server.part() + 452);
    let len = data.len();
    assert_eq!(
        patch(&h, &url, 0, &data).await.status,
        StatusCode::NO_CONTENT
    );
    // The length, declared at the end: the 452-byte tail is the last part.
    let r = call(
        &h,
        common::data(
            tus(Method::PATCH, &url)
                .header("upload-offset", len)
                .header("upload-length", len),
            b"",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = call(
        &handler(server.over(&bucket)),
        empty(http::Request::get(&url)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body[..] == data[..], "{} bytes", r.body.len());
}

async fn the_sweep_removes_expired_uploads_from_the_bucket(server: Server, bucket: String) {
    let mut composer = StoreComposer::new();
    server.over(&bucket).use_in(&mut composer);
    let h = UploadHandler::new(
        Config::new(composer).expire_after(std::time::Duration::from_millis(1500)),
    );
    let old = create(&h, 2 * server.part() as u64).await;
    let first = common::pattern(server.part() + 500);
    assert_eq!(patch(&h, &old, 0, &first).await.status, 204);
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    let fresh = create(&h, 10).await;
    let report = h.sweep().await.unwrap();
    assert_eq!(report.expired, 1);
    assert_eq!(offset(&h, &old).await, None);
    assert_eq!(offset(&h, &fresh).await, Some(0));
    let listed = server.over(&bucket);
    let object = common::id_of(&old).split('+').next().unwrap().to_owned();
    let ids = listed.list_uploads().await.unwrap();
    assert_eq!(
        ids,
        vec![common::id_of(&fresh)],
        "only the fresh upload is left"
    );
    assert!(!ids.iter().any(|id| id.starts_with(&object)));
}

async fn a_partial_being_deleted_never_takes_a_final(server: Server, bucket: String) {
    use common::s3::Fault;
    let part = server.part();
    let direct = handler(server.over(&bucket));
    // Unfinished: a final over it would wait for its last bytes.
    let partial = common::create_partial(&direct, 2 * part).await;
    let data = common::pattern(part + 10);
    assert_eq!(patch(&direct, &partial, 0, &data).await.status, 204);
    // The deletion slows down after its first steps ...
    let (slowed, _) = server
        .watched(
            &bucket,
            vec![rule("DELETE", "uploadId=", Fault::Delay(1500))],
        )
        .await;
    let deleting = {
        let (h, url) = (handler(slowed), partial.clone());
        tokio::spawn(async move { call(&h, empty(tus(Method::DELETE, &url))).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // ... and a final over the partial is asked for meanwhile.
    let r = call(
        &direct,
        empty(tus(Method::POST, "/files/").header("upload-concat", format!("final;{partial}"))),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("does not exist"), "{}", r.text());
    let deleted = deleting.await.unwrap();
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text());
    assert_eq!(offset(&handler(server.over(&bucket)), &partial).await, None);
}

async fn a_termination_stopped_midway_takes_no_final_and_ends_at_the_next_look(
    server: Server,
    bucket: String,
) {
    use common::s3::Fault;
    let direct = handler(server.over(&bucket));
    let partial = common::create_partial(&direct, 100).await;
    assert_eq!(patch(&direct, &partial, 0, b"0123456789").await.status, 204);
    // A handle opened before the termination, as by a final's creation.
    let mut opened = server
        .over(&bucket)
        .get_upload(&common::id_of(&partial))
        .await
        .unwrap();
    // The termination gets as far as marking the upload, then stops.
    let (stopped, _) = server
        .watched(&bucket, vec![rule("DELETE", "uploadId=", Fault::Refuse)])
        .await;
    let r = call(&handler(stopped), empty(tus(Method::DELETE, &partial))).await;
    assert!(r.status.is_server_error(), "{} {}", r.status, r.text());
    let err = opened.add_final("later-final").await.unwrap_err();
    assert!(matches!(err, tower_tus::StoreError::NotFound), "{err:?}");
    // The next look at it finds it gone, and deletes what was left.
    assert_eq!(offset(&direct, &partial).await, None);
    let object = common::id_of(&partial)
        .split('+')
        .next()
        .unwrap()
        .to_owned();
    let info = server
        .client()
        .head_object()
        .bucket(&bucket)
        .key(format!("{object}.info"))
        .send()
        .await;
    assert!(info.is_err(), "the .info is deleted");
}

async fn a_writer_that_saw_half_of_another_s_patch_never_writes(server: Server, bucket: String) {
    use common::s3::Fault;
    let part = server.part();
    let data = common::pattern(3 * part);
    let direct = handler(server.over(&bucket));
    let url = create(&direct, data.len() as u64).await;
    assert_eq!(patch(&direct, &url, 0, &data[..300]).await.status, 204);
    // A writer outside any lock whose look at the `.part` is slow ...
    let (slowed, _) = server
        .watched(&bucket, vec![rule("HEAD", ".part", Fault::Delay(1500))])
        .await;
    let mut stale = slowed.get_upload(&common::id_of(&url)).await.unwrap();
    let (tx, body) = tower_tus::testing::Channel::new();
    let mut body = tower_tus::body::UploadBody::new(body, data.len() as u64 - 300);
    tx.send(bytes::Bytes::from(vec![0xee; 100])).await.unwrap();
    drop(tx);
    let writer = tokio::spawn(async move { stale.write(&mut body).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // ... lists the parts before this PATCH and sees the `.part` after it:
    // one part, and a new `.part` as long as the old one.
    let r = patch(&direct, &url, 300, &data[300..part + 300]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let stale = writer.await.unwrap();
    assert!(
        matches!(stale, Err(tower_tus::StoreError::Conflict(_))),
        "{stale:?}"
    );
    let fresh = handler(server.over(&bucket));
    assert_eq!(offset(&fresh, &url).await, Some(part as u64 + 300));
    let r = patch(&fresh, &url, part as u64 + 300, &data[part + 300..]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert!(downloaded(server, &bucket, &url).await[..] == data[..]);
}

async fn a_head_right_after_a_cut_tells_every_byte_that_arrived(server: Server, bucket: String) {
    use common::s3::Fault;
    use tokio::io::AsyncWriteExt;
    // The tail of a cut PATCH goes up only once its body ended, and slowly.
    let (store, _) = server
        .watched(&bucket, vec![rule("PUT", ".part", Fault::Delay(1500))])
        .await;
    let h = handler(store);
    let (addr, _listening) = common::serve(h.clone()).await;
    let part = server.part();
    let data = common::pattern(3 * part);
    let url = create(&h, data.len() as u64).await;
    let cut = part + 1234;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        data.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&data[..cut]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(stream);
    // At once, as a client resuming asks: the answer waits for the tail.
    assert_eq!(offset(&h, &url).await, Some(cut as u64));
    let r = patch(&h, &url, cut as u64, &data[cut..]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert!(downloaded(server, &bucket, &url).await[..] == data[..]);
}
