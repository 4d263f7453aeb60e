//! The tus extensions beyond creation and termination, rule by rule, on
//! the memory store and on the file store.

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use http::{Method, Request, StatusCode};
use tower_tus::checksum::Algorithm;
use tower_tus::hooks::{HookError, HookEvent, HookResponse, Hooks};
use tower_tus::{Config, StoreComposer, UploadHandler};

on_every_store_composer!(
    a_final_naming_another_host_s_upload_is_400,
    deferred_length_is_declared_by_a_later_patch,
    defer_length_must_be_1_and_alone,
    a_declared_length_cannot_change,
    a_declared_length_obeys_the_max_size,
    deferred_uploads_take_no_more_than_the_max_size,
    a_declared_length_below_the_offset_is_400,
    a_final_upload_is_its_partials_in_order,
    patch_on_a_final_upload_is_403,
    a_final_upload_names_only_existing_partial_uploads,
    a_final_length_obeys_the_max_size,
    a_final_names_at_most_max_partial_uploads,
    a_final_length_obeys_the_max_final_size,
    a_concatenation_longer_than_the_wait_goes_on_after_the_answer,
    an_unfinished_concatenation_completes_with_its_last_partial,
    a_partial_used_by_an_unfinished_final_cannot_be_deleted,
    every_algorithm_verifies_a_matching_chunk,
    a_checksum_mismatch_is_460_and_leaves_everything_as_before,
    a_bad_checksum_header_is_400_before_anything_is_written,
    a_checksum_on_creation_with_upload_is_verified,
    expired_uploads_answer_410_and_cleanup_frees_their_bytes,
    each_patch_moves_the_expiry_forward,
    finished_uploads_expire_only_when_configured,
    ranges_at_the_edges,
    conditional_downloads,
);

/// Records every completion.
#[derive(Clone, Default)]
struct Completions(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Hooks for Completions {
    async fn pre_finish(&self, event: &HookEvent) -> Result<HookResponse, HookError> {
        self.0.lock().unwrap().push(event.upload.id.clone());
        Ok(HookResponse::default())
    }
}

impl Completions {
    fn ids(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

async fn download(h: &UploadHandler, url: &str) -> Vec<u8> {
    let r = call(h, empty(Request::get(url))).await;
    assert_eq!(r.status, StatusCode::OK);
    r.body.to_vec()
}

async fn create_deferred(h: &UploadHandler) -> String {
    let r = call(
        h,
        empty(tus(Method::POST, "/files/").header("upload-defer-length", "1")),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.header("location").unwrap().to_owned()
}

// creation-defer-length

async fn deferred_length_is_declared_by_a_later_patch(composer: StoreComposer) {
    let done = Completions::default();
    let h = UploadHandler::new(Config::new(composer).hooks(done.clone()));
    let url = create_deferred(&h).await;
    let r = call(&h, empty(tus(Method::HEAD, &url))).await;
    assert_eq!(r.header("upload-defer-length"), Some("1"));
    assert_eq!(r.header("upload-length"), None);
    assert_eq!(r.header("upload-offset"), Some("0"));

    assert_eq!(
        patch(&h, &url, 0, b"hello ").await.status,
        StatusCode::NO_CONTENT
    );
    let r = call(
        &h,
        data(
            tus(Method::PATCH, &url)
                .header("upload-offset", "6")
                .header("upload-length", "11"),
            b"world",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("upload-offset"), Some("11"));
    let r = call(&h, empty(tus(Method::HEAD, &url))).await;
    assert_eq!(r.header("upload-length"), Some("11"));
    assert_eq!(r.header("upload-defer-length"), None);
    assert_eq!(download(&h, &url).await, b"hello world");
    assert_eq!(done.ids(), vec![id_of(&url)]);

    // Declared equal to what already arrived: complete at once.
    let url = create_deferred(&h).await;
    patch(&h, &url, 0, b"abc").await;
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
    assert_eq!(done.ids().len(), 2);
}

async fn defer_length_must_be_1_and_alone(composer: StoreComposer) {
    let h = UploadHandler::new(Config::new(composer));
    for headers in [
        &[("upload-defer-length", "2")][..],
        &[("upload-defer-length", "true")],
        &[("upload-defer-length", "1"), ("upload-length", "5")],
    ] {
        let mut b = tus(Method::POST, "/files/");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        assert_eq!(
            call(&h, empty(b)).await.status,
            StatusCode::BAD_REQUEST,
            "{headers:?}"
        );
    }
}

async fn a_declared_length_cannot_change(composer: StoreComposer) {
    let h = UploadHandler::new(Config::new(composer));
    let url = create_deferred(&h).await;
    let r = call(
        &h,
        data(
            tus(Method::PATCH, &url)
                .header("upload-offset", "0")
                .header("upload-length", "10"),
            b"ab",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = call(
        &h,
        data(
            tus(Method::PATCH, &url)
                .header("upload-offset", "2")
                .header("upload-length", "11"),
            b"cd",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(offset(&h, &url).await, Some(2));
    let r = call(
        &h,
        data(
            tus(Method::PATCH, &url)
                .header("upload-offset", "2")
                .header("upload-length", "10"),
            b"cd",
        ),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "the same length again is fine"
    );
    // A fixed-length upload is no different.
    let url = create(&h, 5).await;
    let r = call(
        &h,
        data(
            tus(Method::PATCH, &url)
                .header("upload-offset", "0")
                .header("upload-length", "6"),
            b"a",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

async fn a_declared_length_obeys_the_max_size(composer: StoreComposer) {
    let h = UploadHandler::new(Config::new(composer).max_size(10));
    let url = create_deferred(&h).await;
    let r = call(
        &h,
        data(
            tus(Method::PATCH, &url)
                .header("upload-offset", "0")
                .header("upload-length", "11"),
            b"ab",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = call(&h, empty(tus(Method::HEAD, &url))).await;
    assert_eq!(
        r.header("upload-defer-length"),
        Some("1"),
        "the length stays undeclared"
    );
    assert_eq!(r.header("upload-offset"), Some("0"));
}

async fn deferred_uploads_take_no_more_than_the_max_size(composer: StoreComposer) {
    let h = UploadHandler::new(Config::new(composer).max_size(4));
    let url = create_deferred(&h).await;
    let req = tus(Method::PATCH, &url)
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(Frames::new(&[b"abc", b"def"]))
        .unwrap();
    let res = tower::ServiceExt::oneshot(h.clone(), req).await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(offset(&h, &url).await, Some(4));
}

async fn a_declared_length_below_the_offset_is_400(composer: StoreComposer) {
    let h = UploadHandler::new(Config::new(composer));
    let url = create_deferred(&h).await;
    patch(&h, &url, 0, b"abcdef").await;
    let r = call(
        &h,
        data(
            tus(Method::PATCH, &url)
                .header("upload-offset", "6")
                .header("upload-length", "3"),
            b"",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

// concatenation

async fn create_partial(h: &UploadHandler, bytes: &[u8], finish: bool) -> String {
    let url = common::create_partial(h, bytes.len()).await;
    if finish {
        assert_eq!(
            patch(h, &url, 0, bytes).await.status,
            StatusCode::NO_CONTENT
        );
    }
    url
}

async fn create_final(h: &UploadHandler, urls: &[&str]) -> Reply {
    call(
        h,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-concat", format!("final;{}", urls.join(" ")))
                .header("upload-metadata", "filename ZmluYWwuYmlu"),
        ),
    )
    .await
}

async fn a_final_naming_another_host_s_upload_is_400(composer: StoreComposer) {
    let h = UploadHandler::new(Config::new(composer));
    let partial = create_partial(&h, b"ours", true).await;
    let post = |url: String| {
        empty(
            tus(Method::POST, "/files/")
                .header("host", "uploads.example")
                .header("upload-concat", format!("final;{url}")),
        )
    };
    // The same path on another server is not this server's upload.
    let r = call(&h, post(format!("http://elsewhere.example{partial}"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.text().contains("is not an upload URL of this server"),
        "{}",
        r.text()
    );
    // Named by the host the request went to, it is.
    let r = call(&h, post(format!("http://UPLOADS.example{partial}"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

async fn a_final_upload_is_its_partials_in_order(composer: StoreComposer) {
    let done = Completions::default();
    let h = UploadHandler::new(Config::new(composer).hooks(done.clone()));
    let (a, b, c) = (pattern(70_000), b"-second-".to_vec(), b"third".to_vec());
    let r = call(
        &h,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-length", a.len())
                .header("upload-concat", "partial")
                .header("upload-metadata", "secret c2VjcmV0"),
        ),
    )
    .await;
    let url_a = r.header("location").unwrap().to_owned();
    patch(&h, &url_a, 0, &a).await;
    let url_b = create_partial(&h, &b, true).await;
    let url_c = create_partial(&h, &c, true).await;

    let absolute_b = format!("http://uploads.example{url_b}");
    let r = create_final(&h, &[&url_a, &absolute_b, &url_a, &url_c]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let final_url = r.header("location").unwrap().to_owned();
    let total = 2 * a.len() + b.len() + c.len();
    assert_eq!(r.header("upload-offset"), Some(total.to_string().as_str()));

    let mut want = a.clone();
    want.extend_from_slice(&b);
    want.extend_from_slice(&a);
    want.extend_from_slice(&c);
    assert_eq!(download(&h, &final_url).await, want);

    let r = call(&h, empty(tus(Method::HEAD, &final_url))).await;
    assert_eq!(r.header("upload-length"), Some(total.to_string().as_str()));
    assert_eq!(r.header("upload-offset"), r.header("upload-length"));
    assert_eq!(
        r.header("upload-concat"),
        Some(format!("final;{url_a} {url_b} {url_a} {url_c}").as_str())
    );
    // The partials' metadata is not carried over.
    assert_eq!(r.header("upload-metadata"), Some("filename ZmluYWwuYmlu"));
    let r = call(&h, empty(tus(Method::HEAD, &url_a))).await;
    assert_eq!(r.header("upload-concat"), Some("partial"));
    assert!(done.ids().contains(&id_of(&final_url)));
}

async fn patch_on_a_final_upload_is_403(composer: StoreComposer) {
    let h = UploadHandler::new(Config::new(composer));
    let a = create_partial(&h, b"abc", true).await;
    let final_url = create_final(&h, &[&a])
        .await
        .header("location")
        .unwrap()
        .to_owned();
    let r = patch(&h, &final_url, 3, b"x").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(download(&h, &final_url).await, b"abc");
}

async fn a_final_upload_names_only_existing_partial_uploads(composer: StoreComposer) {
    let h = UploadHandler::new(Config::new(composer));
    let partial = create_partial(&h, b"abc", true).await;
    let plain = create(&h, 3).await;
    for urls in [
        vec!["/files/doesnotexist"],
        vec![partial.as_str(), plain.as_str()],
        vec!["/elsewhere/abc"],
        vec!["/files/../etc"],
        vec![],
    ] {
        let r = create_final(&h, &urls).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{urls:?}: {}", r.text());
    }
    for bad in ["final", "fin;/files/x", "partial;x"] {
        let r = call(
            &h,
            empty(
                tus(Method::POST, "/files/")
                    .header("upload-concat", bad)
                    .header("upload-length", "1"),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = call(
        &h,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-concat", format!("final;{partial}"))
                .header("upload-length", "3"),
        ),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "a final upload takes no Upload-Length"
    );
}

async fn a_final_length_obeys_the_max_size(composer: StoreComposer) {
    let h = UploadHandler::new(Config::new(composer).max_size(10));
    let a = create_partial(&h, b"123456", true).await;
    let b = create_partial(&h, b"789012", true).await;
    assert_eq!(
        create_final(&h, &[&a, &b]).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

async fn a_final_names_at_most_max_partial_uploads(composer: StoreComposer) {
    let h = UploadHandler::new(Config::new(composer).max_partial_uploads(3));
    let a = create_partial(&h, b"abc", true).await;
    let r = create_final(&h, &[&a, &a, &a, &a]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.text().contains("at most 3 partial uploads"),
        "{}",
        r.text()
    );
    let r = create_final(&h, &[&a, &a, &a]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let final_url = r.header("location").unwrap().to_owned();
    assert_eq!(download(&h, &final_url).await, b"abcabcabc");
}

async fn a_final_length_obeys_the_max_final_size(composer: StoreComposer) {
    let h = UploadHandler::new(Config::new(composer).max_final_size(10));
    let a = create_partial(&h, b"123456", true).await;
    let r = create_final(&h, &[&a, &a]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    // Only finals: a partial, or any other upload, may be larger.
    let big = create_partial(&h, &[7u8; 20], true).await;
    assert_eq!(create_final(&h, &[&a]).await.status, StatusCode::CREATED);
    assert_eq!(
        create_final(&h, &[&big]).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

async fn a_concatenation_longer_than_the_wait_goes_on_after_the_answer(composer: StoreComposer) {
    let done = Completions::default();
    // No wait at all: on the test's single thread the join cannot have
    // started when the POST is answered.
    let h = UploadHandler::new(
        Config::new(composer)
            .hooks(done.clone())
            .concatenation_wait(Duration::ZERO),
    );
    let a = create_partial(&h, b"joined ", true).await;
    let b = create_partial(&h, b"later", true).await;
    let r = create_final(&h, &[&a, &b]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.header("upload-offset"), None, "not joined yet");
    let final_url = r.header("location").unwrap().to_owned();
    common::eventually(10, || {
        let (h, final_url) = (h.clone(), final_url.clone());
        async move {
            call(&h, empty(tus(Method::HEAD, &final_url)))
                .await
                .header("upload-offset")
                == Some("12")
        }
    })
    .await;
    assert_eq!(download(&h, &final_url).await, b"joined later");
    assert!(done.ids().contains(&id_of(&final_url)));
}

async fn an_unfinished_concatenation_completes_with_its_last_partial(composer: StoreComposer) {
    let done = Completions::default();
    let h = UploadHandler::new(Config::new(composer).hooks(done.clone()));
    let a = create_partial(&h, b"first ", true).await;
    let b = create_partial(&h, b"second", false).await;
    let r = create_final(&h, &[&a, &b]).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("upload-offset"), None);
    let final_url = r.header("location").unwrap().to_owned();

    let r = call(&h, empty(tus(Method::HEAD, &final_url))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("upload-offset"),
        None,
        "no offset until the partials are done"
    );
    assert_eq!(r.header("upload-length"), Some("12"));
    assert!(!done.ids().contains(&id_of(&final_url)));

    assert_eq!(
        patch(&h, &b, 0, b"sec").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&h, empty(tus(Method::HEAD, &final_url)))
            .await
            .header("upload-offset"),
        None
    );
    assert_eq!(
        patch(&h, &b, 3, b"ond").await.status,
        StatusCode::NO_CONTENT
    );

    let r = call(&h, empty(tus(Method::HEAD, &final_url))).await;
    assert_eq!(r.header("upload-offset"), Some("12"));
    assert_eq!(download(&h, &final_url).await, b"first second");
    let finals = done
        .ids()
        .iter()
        .filter(|id| **id == id_of(&final_url))
        .count();
    assert_eq!(finals, 1, "completion fired once");
    // Partials stay as they were once used.
    assert_eq!(
        patch(&h, &b, 6, b"more").await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

async fn a_partial_used_by_an_unfinished_final_cannot_be_deleted(composer: StoreComposer) {
    let h = UploadHandler::new(Config::new(composer));
    let a = create_partial(&h, b"abc", false).await;
    let final_url = create_final(&h, &[&a])
        .await
        .header("location")
        .unwrap()
        .to_owned();
    assert_eq!(
        call(&h, empty(tus(Method::DELETE, &a))).await.status,
        StatusCode::FORBIDDEN
    );
    patch(&h, &a, 0, b"abc").await;
    assert_eq!(download(&h, &final_url).await, b"abc");
    assert_eq!(
        call(&h, empty(tus(Method::DELETE, &a))).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        download(&h, &final_url).await,
        b"abc",
        "the final keeps its bytes"
    );
}

// checksum

fn digest(algorithm: Algorithm, bytes: &[u8]) -> String {
    let mut hasher = algorithm.hasher();
    hasher.update(bytes);
    format!("{} {}", algorithm.name(), STANDARD.encode(hasher.finish()))
}

async fn every_algorithm_verifies_a_matching_chunk(composer: StoreComposer) {
    let h = UploadHandler::new(Config::new(composer));
    for algorithm in Algorithm::ALL {
        let url = create(&h, 11).await;
        let r = call(
            &h,
            data(
                tus(Method::PATCH, &url)
                    .header("upload-offset", "0")
                    .header("upload-checksum", digest(algorithm, b"hello world")),
                b"hello world",
            ),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::NO_CONTENT,
            "{algorithm:?}: {}",
            r.text()
        );
        assert_eq!(r.header("upload-offset"), Some("11"));
    }
}

async fn a_checksum_mismatch_is_460_and_leaves_everything_as_before(composer: StoreComposer) {
    let done = Completions::default();
    let h = UploadHandler::new(Config::new(composer).hooks(done.clone()));
    let url = create(&h, 10).await;
    patch(&h, &url, 0, b"01234").await;
    let r = call(
        &h,
        data(
            tus(Method::PATCH, &url)
                .header("upload-offset", "5")
                .header("upload-checksum", digest(Algorithm::Sha256, b"other")),
            b"56789",
        ),
    )
    .await;
    assert_eq!(r.status.as_u16(), 460, "{}", r.text());
    assert_eq!(offset(&h, &url).await, Some(5));
    assert_eq!(download(&h, &url).await, b"01234");
    assert!(
        done.ids().is_empty(),
        "a discarded last chunk completes nothing"
    );
    let r = call(
        &h,
        data(
            tus(Method::PATCH, &url)
                .header("upload-offset", "5")
                .header("upload-checksum", digest(Algorithm::Sha256, b"56789")),
            b"56789",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(download(&h, &url).await, b"0123456789");
}

async fn a_bad_checksum_header_is_400_before_anything_is_written(composer: StoreComposer) {
    let h = UploadHandler::new(Config::new(composer));
    let url = create(&h, 5).await;
    for bad in [
        "sha3 AAAA",
        "sha1",
        "sha1 not*base64",
        "SHA1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
    ] {
        let r = call(
            &h,
            data(
                tus(Method::PATCH, &url)
                    .header("upload-offset", "0")
                    .header("upload-checksum", bad),
                b"hello",
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(offset(&h, &url).await, Some(0));
}

async fn a_checksum_on_creation_with_upload_is_verified(composer: StoreComposer) {
    let h = UploadHandler::new(
        Config::new(composer)
            .upload_id_maker(tower_tus::id::MakeUploadId::new(|| "with-data".into())),
    );
    let r = call(
        &h,
        data(
            tus(Method::POST, "/files/")
                .header("upload-length", "5")
                .header("upload-checksum", digest(Algorithm::Md5, b"wrong")),
            b"hello",
        ),
    )
    .await;
    assert_eq!(r.status.as_u16(), 460);
    assert_eq!(
        offset(&h, "/files/with-data").await,
        Some(0),
        "created, nothing kept"
    );
}

// expiration

async fn expired_uploads_answer_410_and_cleanup_frees_their_bytes(composer: StoreComposer) {
    // Margins of most of a second, so a busy machine does not decide.
    let h = UploadHandler::new(Config::new(composer).expire_after(Duration::from_millis(3000)));
    let r = call(&h, empty(tus(Method::OPTIONS, "/files/"))).await;
    assert!(r.header("tus-extension").unwrap().contains("expiration"));
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-length", "10")),
    )
    .await;
    let expires =
        httpdate::parse_http_date(r.header("upload-expires").expect("Upload-Expires on POST"))
            .unwrap();
    assert!(
        expires > SystemTime::now() + Duration::from_secs(1)
            && expires < SystemTime::now() + Duration::from_secs(5)
    );
    let url = r.header("location").unwrap().to_owned();
    let r = patch(&h, &url, 0, b"abc").await;
    assert!(
        r.header("upload-expires").is_some(),
        "Upload-Expires on PATCH"
    );
    let keep = create(&h, 10).await;
    let r = call(&h, empty(tus(Method::HEAD, &url))).await;
    assert!(
        r.header("upload-expires").is_some(),
        "Upload-Expires on HEAD"
    );

    tokio::time::sleep(Duration::from_millis(2100)).await;
    patch(&h, &keep, 0, b"x").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // Expired, not yet cleaned up: already 410.
    assert_eq!(
        call(&h, empty(tus(Method::HEAD, &url))).await.status,
        StatusCode::GONE
    );
    assert_eq!(patch(&h, &url, 3, b"d").await.status, StatusCode::GONE);
    assert_eq!(
        call(&h, empty(Request::get(&url))).await.status,
        StatusCode::GONE
    );
    assert_eq!(
        call(&h, empty(tus(Method::DELETE, &url))).await.status,
        StatusCode::GONE
    );
    assert_eq!(
        call(&h, empty(tus(Method::HEAD, &keep))).await.status,
        StatusCode::OK
    );

    assert_eq!(h.sweep().await.unwrap().expired, 1);
    assert_eq!(
        call(&h, empty(tus(Method::HEAD, &url))).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&h, empty(tus(Method::HEAD, &keep))).await.status,
        StatusCode::OK
    );
}

async fn each_patch_moves_the_expiry_forward(composer: StoreComposer) {
    let h = UploadHandler::new(Config::new(composer).expire_after(Duration::from_millis(1000)));
    let url = create(&h, 10).await;
    for i in 0..4 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            patch(&h, &url, i, b"x").await.status,
            StatusCode::NO_CONTENT,
            "PATCH {i}"
        );
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        call(&h, empty(tus(Method::HEAD, &url))).await.status,
        StatusCode::GONE
    );
}

async fn finished_uploads_expire_only_when_configured(composer: StoreComposer) {
    // Wide enough for a loaded machine to PATCH before the deadline.
    let h = UploadHandler::new(Config::new(composer.clone()).expire_after(Duration::from_secs(1)));
    let url = create(&h, 3).await;
    let r = patch(&h, &url, 0, b"abc").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(
        r.header("upload-expires"),
        None,
        "a finished upload does not expire"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        call(&h, empty(tus(Method::HEAD, &url))).await.status,
        StatusCode::OK
    );
    assert_eq!(h.sweep().await.unwrap().expired, 0);

    let h = UploadHandler::new(
        Config::new(composer)
            .expire_after(Duration::from_secs(60))
            .expire_finished_after(Duration::from_millis(100)),
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        call(&h, empty(tus(Method::HEAD, &url))).await.status,
        StatusCode::GONE
    );
    assert_eq!(h.sweep().await.unwrap().expired, 1);
}

// downloads

async fn ranges_at_the_edges(composer: StoreComposer) {
    let h = UploadHandler::new(Config::new(composer));
    let bytes = pattern(1000);
    let r = call(
        &h,
        data(
            tus(Method::POST, "/files/").header("upload-length", "1000"),
            &bytes,
        ),
    )
    .await;
    let url = r.header("location").unwrap().to_owned();
    let cases: [(&str, usize, usize); 6] = [
        ("bytes=0-0", 0, 0),
        ("bytes=999-999", 999, 999),
        ("bytes=990-", 990, 999),
        ("bytes=-10", 990, 999),
        ("bytes=500-2000", 500, 999),
        ("bytes=-5000", 0, 999),
    ];
    for (range, first, last) in cases {
        let r = call(&h, empty(Request::get(&url).header("range", range))).await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {first}-{last}/1000").as_str()),
            "{range}"
        );
        assert_eq!(
            r.header("content-length"),
            Some((last - first + 1).to_string().as_str())
        );
        assert_eq!(&r.body[..], &bytes[first..=last], "{range}");
    }
    for range in ["bytes=1000-", "bytes=1000-1001", "bytes=-0"] {
        let r = call(&h, empty(Request::get(&url).header("range", range))).await;
        assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(r.header("content-range"), Some("bytes */1000"));
    }
    let r = call(&h, empty(Request::get(&url))).await;
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(&r.body[..], &bytes[..]);
    // Several ranges at once: the whole upload instead.
    let r = call(
        &h,
        empty(Request::get(&url).header("range", "bytes=0-1,5-6")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // An unfinished upload serves ranges within what arrived.
    let url = create(&h, 100).await;
    patch(&h, &url, 0, b"0123456789").await;
    let r = call(&h, empty(Request::get(&url).header("range", "bytes=-3"))).await;
    assert_eq!(r.header("content-range"), Some("bytes 7-9/10"));
    assert_eq!(&r.body[..], b"789");
}

async fn conditional_downloads(composer: StoreComposer) {
    let h = UploadHandler::new(Config::new(composer));
    let url = create(&h, 10).await;
    patch(&h, &url, 0, b"01234").await;
    let r = call(&h, empty(Request::get(&url))).await;
    let etag = r.header("etag").unwrap().to_owned();
    let modified = r.header("last-modified").unwrap().to_owned();
    let r = call(&h, empty(Request::get(&url).header("if-none-match", &etag))).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.body.is_empty());
    let r = call(
        &h,
        empty(Request::get(&url).header("if-modified-since", &modified)),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);

    patch(&h, &url, 5, b"56789").await;
    let r = call(&h, empty(Request::get(&url).header("if-none-match", &etag))).await;
    assert_eq!(r.status, StatusCode::OK, "new bytes, new ETag");
    // If-Range with the old ETag: the whole, current upload.
    let r = call(
        &h,
        empty(
            Request::get(&url)
                .header("range", "bytes=0-1")
                .header("if-range", &etag),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"0123456789");
    let new_etag = r.header("etag").unwrap().to_owned();
    let r = call(
        &h,
        empty(
            Request::get(&url)
                .header("range", "bytes=0-1")
                .header("if-range", &new_etag),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
}
