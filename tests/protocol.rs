//! tus 1.0.0, rule by rule, over the HTTP surface; every rule runs on the
//! memory store and on the file store.

#[macro_use]
mod common;

use bytes::Bytes;
use common::*;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use tower::ServiceExt;
use tower_tus::id::MakeUploadId;
use tower_tus::{Config, UploadHandler};

macro_rules! on_every_store {
    ($($rule:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $rule() { super::$rule(super::memory_config()).await; })*
        }
        mod file {
            $(#[tokio::test] async fn $rule() {
                let dir = tempfile::tempdir().unwrap();
                super::$rule(super::file_config(dir.path())).await;
            })*
        }
    };
}

on_every_store!(
    options_answers_200_with_version_extensions_and_max_size,
    options_needs_no_tus_resumable,
    wrong_tus_resumable_gets_412_and_creates_nothing,
    wrong_tus_resumable_on_patch_writes_nothing,
    post_creates_upload_with_relative_location,
    post_needs_a_valid_upload_length,
    post_over_max_size_is_413,
    post_with_malformed_metadata_is_400,
    metadata_keys_without_values_and_binary_values_are_kept,
    location_is_absolute_from_forwarded_headers_when_trusted,
    post_with_data_writes_it_and_reports_offset,
    post_with_data_longer_than_length_is_413_and_creates_nothing,
    post_asking_for_unoffered_extensions_is_400,
    head_reports_offset_length_metadata_and_no_store,
    head_of_unknown_upload_is_404_without_offset,
    patch_with_wrong_content_type_is_415,
    patch_without_valid_offset_is_400,
    patch_with_offset_mismatch_is_409_and_writes_nothing,
    patch_appends_and_answers_new_offset,
    patch_declaring_more_than_remaining_is_413_and_writes_nothing,
    patch_streaming_more_than_remaining_keeps_what_fits_and_completes,
    patch_of_unknown_upload_is_404,
    delete_terminates_and_later_requests_get_404,
    delete_is_405_when_termination_is_disabled,
    get_downloads_the_bytes_with_content_length,
    get_serves_only_safe_types_inline,
    get_filename_cannot_smuggle_headers,
    get_is_405_when_download_is_disabled,
    get_needs_no_tus_resumable_but_refuses_a_wrong_one,
    ids_that_could_escape_are_404,
    errors_are_short_plain_text_with_tus_resumable,
    method_override_turns_post_into_the_named_method,
    invalid_generated_ids_are_refused,
    a_tus_header_given_twice_is_400_and_changes_nothing,
    ranges_past_a_u64_and_in_any_case_are_served_as_rfc_9110_says,
    metadata_longer_than_the_limit_is_400_and_creates_nothing,
);

async fn metadata_longer_than_the_limit_is_400_and_creates_nothing(config: Config) {
    let h = UploadHandler::new(config.upload_id_maker(MakeUploadId::new(|| "meta".into())));
    let post = |metadata: String| {
        empty(
            tus(Method::POST, "/files/")
                .header("upload-length", "5")
                .header("upload-metadata", metadata),
        )
    };
    // "filename " and base64: 64 KiB and one byte, past the default.
    let long = format!("filename {}", "QUFB".repeat((64 << 10) / 4 - 2));
    assert_eq!(long.len(), (64 << 10) - 8 + 9);
    let r = call(&h, post(long)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text(), "Upload-Metadata is longer than 65536 bytes\n");
    assert_eq!(offset(&h, "/files/meta").await, None, "nothing was created");
    // Under the limit, it is taken.
    let at_limit = format!("filename {}", "QUFB".repeat((64 << 10) / 4 - 3));
    let r = call(&h, post(at_limit)).await;
    assert_eq!(r.status, StatusCode::CREATED);
}

async fn ranges_past_a_u64_and_in_any_case_are_served_as_rfc_9110_says(config: Config) {
    let h = UploadHandler::new(config);
    let bytes = pattern(100);
    let r = call(
        &h,
        data(
            tus(Method::POST, "/files/").header("upload-length", bytes.len()),
            &bytes,
        ),
    )
    .await;
    let url = r.header("location").unwrap().to_owned();
    let get = |range: &'static str| Request::get(&url).header("range", range);
    let r = call(&h, empty(get("bytes=99999999999999999999999-"))).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("content-range"), Some("bytes */100"));
    let r = call(&h, empty(get("bytes=90-99999999999999999999999"))).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], &bytes[90..]);
    let r = call(&h, empty(get("Bytes=0-9"))).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], &bytes[..10]);
}

async fn a_tus_header_given_twice_is_400_and_changes_nothing(config: Config) {
    let h = UploadHandler::new(config.upload_id_maker(MakeUploadId::new(|| "twice".into())));
    let req = Request::post("/files/")
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "5")
        .header("upload-length", "7");
    let r = call(&h, empty(req)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.text(), "the Upload-Length header may appear only once\n");
    assert_eq!(
        offset(&h, "/files/twice").await,
        None,
        "nothing was created"
    );

    let url = create(&h, 5).await;
    for (name, a, b) in [
        ("upload-offset", "0", "0"),
        (
            "content-type",
            "application/offset+octet-stream",
            "application/offset+octet-stream",
        ),
        ("tus-resumable", "1.0.0", "1.0.0"),
    ] {
        let mut req = Request::patch(&url)
            .header("tus-resumable", "1.0.0")
            .header("upload-offset", "0")
            .header("content-type", "application/offset+octet-stream");
        req.headers_mut().unwrap().append(name, a.parse().unwrap());
        req.headers_mut().unwrap().append(name, b.parse().unwrap());
        let r = call(
            &h,
            req.body(Full::new(Bytes::from_static(b"hello"))).unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}");
    }
    assert_eq!(offset(&h, &url).await, Some(0), "nothing was written");
}

async fn options_answers_200_with_version_extensions_and_max_size(config: Config) {
    let h = UploadHandler::new(config.max_size(1000));
    let r = call(&h, empty(tus(Method::OPTIONS, "/files/"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("tus-version"), Some("1.0.0"));
    assert_eq!(r.header("tus-resumable"), Some("1.0.0"));
    assert_eq!(r.header("tus-max-size"), Some("1000"));
    assert_eq!(
        r.header("tus-extension"),
        Some(
            "creation,creation-with-upload,creation-defer-length,termination,concatenation,concatenation-unfinished,checksum,checksum-trailer"
        )
    );
    assert_eq!(
        r.header("tus-checksum-algorithm"),
        Some("sha1,sha256,sha512,md5,crc32,crc32c")
    );
}

async fn options_needs_no_tus_resumable(config: Config) {
    let h = UploadHandler::new(config);
    let r = call(&h, empty(Request::options("/files/"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("tus-max-size"), None);
    let r = call(
        &h,
        empty(Request::options("/files/abc").header("tus-resumable", "0.2.2")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn wrong_tus_resumable_gets_412_and_creates_nothing(config: Config) {
    let h = UploadHandler::new(config.upload_id_maker(MakeUploadId::new(|| "fixed".into())));
    for version in [None, Some("0.2.2"), Some("1.0"), Some("")] {
        let mut b = Request::post("/files/").header("upload-length", "5");
        if let Some(v) = version {
            b = b.header("tus-resumable", v);
        }
        let r = call(&h, empty(b)).await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{version:?}");
        assert_eq!(r.header("tus-version"), Some("1.0.0"));
        assert_eq!(r.header("tus-resumable"), Some("1.0.0"));
    }
    assert_eq!(
        offset(&h, "/files/fixed").await,
        None,
        "nothing was created"
    );
}

async fn wrong_tus_resumable_on_patch_writes_nothing(config: Config) {
    let h = UploadHandler::new(config);
    let url = create(&h, 5).await;
    let req = Request::patch(&url)
        .header("tus-resumable", "0.2.2")
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(Full::new(Bytes::from_static(b"hello")))
        .unwrap();
    assert_eq!(call(&h, req).await.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(offset(&h, &url).await, Some(0));
}

async fn post_creates_upload_with_relative_location(config: Config) {
    let h = UploadHandler::new(config);
    let r = call(
        &h,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-length", "10")
                .header("host", "example.com"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let location = r.header("location").unwrap();
    let id = location
        .strip_prefix("/files/")
        .expect("relative to the base path");
    assert_eq!(id.len(), 32, "128 random bits in hex");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(r.header("tus-resumable"), Some("1.0.0"));
    assert_eq!(offset(&h, location).await, Some(0));
    let other = create(&h, 10).await;
    assert_ne!(other, location, "ids differ");
    // The collection without its trailing slash is the same endpoint.
    let r = call(
        &h,
        empty(tus(Method::POST, "/files").header("upload-length", "1")),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

async fn post_needs_a_valid_upload_length(config: Config) {
    let h = UploadHandler::new(config);
    for bad in [
        None,
        Some("-1"),
        Some("abc"),
        Some("1.5"),
        Some(" 5"),
        Some(""),
    ] {
        let mut b = tus(Method::POST, "/files/");
        if let Some(v) = bad {
            b = b.header("upload-length", v);
        }
        let r = call(&h, empty(b)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(r.text().contains("Upload-Length"));
    }
}

async fn post_over_max_size_is_413(config: Config) {
    let h = UploadHandler::new(config.max_size(100));
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-length", "101")),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-length", "100")),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

async fn post_with_malformed_metadata_is_400(config: Config) {
    let h = UploadHandler::new(config);
    for bad in ["filename !!notbase64", "a b c", ",", "a,a", "k eA==,k eA=="] {
        let r = call(
            &h,
            empty(
                tus(Method::POST, "/files/")
                    .header("upload-length", "1")
                    .header("upload-metadata", bad),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(r.text().contains("Upload-Metadata"), "{}", r.text());
    }
}

async fn metadata_keys_without_values_and_binary_values_are_kept(config: Config) {
    let h = UploadHandler::new(config);
    // "flag" has no value; "bin" holds bytes that are not UTF-8.
    let r = call(
        &h,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-length", "1")
                .header("upload-metadata", "filename aGVsbG8udHh0,flag,bin AP8K"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let url = r.header("location").unwrap().to_owned();
    let r = call(&h, empty(tus(Method::HEAD, &url))).await;
    let md = tower_tus::metadata::parse(r.header("upload-metadata").unwrap()).unwrap();
    assert_eq!(md.get_str("filename"), Some("hello.txt"));
    assert_eq!(md.get("flag"), Some(&b""[..]));
    assert_eq!(md.get("bin"), Some(&[0u8, 255, 10][..]));
}

async fn location_is_absolute_from_forwarded_headers_when_trusted(config: Config) {
    let untrusted = UploadHandler::new(config.clone());
    let r = call(
        &untrusted,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-length", "1")
                .header("host", "h.example")
                .header("x-forwarded-host", "evil.example"),
        ),
    )
    .await;
    assert!(r.header("location").unwrap().starts_with("/files/"));

    let h = UploadHandler::new(config.respect_forwarded_headers(true));
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("host", "h.example:8080")],
            "http://h.example:8080/files/",
        ),
        (
            &[
                ("host", "h.example"),
                ("x-forwarded-host", "proxy.example"),
                ("x-forwarded-proto", "https"),
            ],
            "https://proxy.example/files/",
        ),
        (
            &[
                ("host", "h.example"),
                (
                    "forwarded",
                    "for=1.2.3.4;host=fwd.example;proto=https, host=second.example",
                ),
            ],
            "https://fwd.example/files/",
        ),
        (
            &[("host", "h.example"), ("x-forwarded-proto", "javascript")],
            "http://h.example/files/",
        ),
    ];
    for (headers, prefix) in cases {
        let mut b = tus(Method::POST, "/files/").header("upload-length", "1");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let r = call(&h, empty(b)).await;
        let location = r.header("location").unwrap();
        assert!(location.starts_with(prefix), "{location} from {headers:?}");
    }
    // A host that would change the URL's structure is not used.
    let r = call(
        &h,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-length", "1")
                .header("host", "a.example/evil?"),
        ),
    )
    .await;
    assert!(r.header("location").unwrap().starts_with("/files/"));
}

async fn post_with_data_writes_it_and_reports_offset(config: Config) {
    let h = UploadHandler::new(config);
    let r = call(
        &h,
        data(
            tus(Method::POST, "/files/").header("upload-length", "11"),
            b"hello",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("upload-offset"), Some("5"));
    let url = r.header("location").unwrap().to_owned();
    let r = call(
        &h,
        data(
            tus(Method::PATCH, &url).header("upload-offset", "5"),
            b" world",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = call(&h, empty(tus(Method::GET, &url))).await;
    assert_eq!(&r.body[..], b"hello world");
    // A body with another content type is not upload data.
    let r = call(
        &h,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-length", "3")
                .header("content-type", "text/plain"),
        ),
    )
    .await;
    assert_eq!(r.header("upload-offset"), Some("0"));
}

async fn post_with_data_longer_than_length_is_413_and_creates_nothing(config: Config) {
    let h = UploadHandler::new(config.upload_id_maker(MakeUploadId::new(|| "only".into())));
    let r = call(
        &h,
        data(
            tus(Method::POST, "/files/").header("upload-length", "3"),
            b"hello",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(offset(&h, "/files/only").await, None);
}

async fn post_asking_for_unoffered_extensions_is_400(config: Config) {
    // Only the core of the store: no extension is offered.
    let mut composer = tower_tus::StoreComposer::new();
    composer.use_core(CoreOnly(tower_tus::store::MemoryStore::new()));
    drop(config);
    let h = UploadHandler::new(Config::new(composer));
    let r = call(&h, empty(tus(Method::OPTIONS, "/files/"))).await;
    assert_eq!(
        r.header("tus-extension"),
        Some("creation,creation-with-upload")
    );
    assert_eq!(r.header("tus-checksum-algorithm"), None);
    let cases: [&[(&str, &str)]; 4] = [
        &[("upload-defer-length", "1")],
        &[("upload-concat", "partial"), ("upload-length", "1")],
        &[
            ("upload-checksum", "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="),
            ("upload-length", "11"),
            ("content-type", "application/offset+octet-stream"),
        ],
        &[("upload-concat", "final;/files/a")],
    ];
    for headers in cases {
        let mut b = tus(Method::POST, "/files/");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let r = call(
            &h,
            b.body(Full::new(Bytes::from_static(b"hello world")))
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{headers:?}");
        assert!(r.text().contains("not supported"), "{}", r.text());
    }
    let url = create(&h, 3).await;
    assert_eq!(
        call(&h, empty(tus(Method::DELETE, &url))).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        call(&h, empty(Request::get(&url))).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

async fn head_reports_offset_length_metadata_and_no_store(config: Config) {
    let h = UploadHandler::new(config);
    let r = call(
        &h,
        data(
            tus(Method::POST, "/files/")
                .header("upload-length", "10")
                .header("upload-metadata", "filename eC50eHQ="),
            b"abc",
        ),
    )
    .await;
    let url = r.header("location").unwrap().to_owned();
    let r = call(&h, empty(tus(Method::HEAD, &url))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("upload-offset"), Some("3"));
    assert_eq!(r.header("upload-length"), Some("10"));
    assert_eq!(r.header("upload-metadata"), Some("filename eC50eHQ="));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("tus-resumable"), Some("1.0.0"));
}

async fn head_of_unknown_upload_is_404_without_offset(config: Config) {
    let h = UploadHandler::new(config);
    let r = call(&h, empty(tus(Method::HEAD, "/files/doesnotexist"))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.header("upload-offset"), None);
}

async fn patch_with_wrong_content_type_is_415(config: Config) {
    let h = UploadHandler::new(config);
    let url = create(&h, 5).await;
    for ct in [None, Some("application/octet-stream"), Some("text/plain")] {
        let mut b = tus(Method::PATCH, &url).header("upload-offset", "0");
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        let r = call(&h, b.body(Full::new(Bytes::from_static(b"hello"))).unwrap()).await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
    }
    assert_eq!(offset(&h, &url).await, Some(0));
}

async fn patch_without_valid_offset_is_400(config: Config) {
    let h = UploadHandler::new(config);
    let url = create(&h, 5).await;
    for bad in [None, Some("-1"), Some("x")] {
        let mut b = tus(Method::PATCH, &url);
        if let Some(v) = bad {
            b = b.header("upload-offset", v);
        }
        let r = call(&h, data(b, b"hello")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}");
    }
    assert_eq!(offset(&h, &url).await, Some(0));
}

async fn patch_with_offset_mismatch_is_409_and_writes_nothing(config: Config) {
    let h = UploadHandler::new(config);
    let url = create(&h, 10).await;
    call(
        &h,
        data(
            tus(Method::PATCH, &url).header("upload-offset", "0"),
            b"abc",
        ),
    )
    .await;
    for wrong in ["0", "2", "4"] {
        let r = call(
            &h,
            data(
                tus(Method::PATCH, &url).header("upload-offset", wrong),
                b"xyz",
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "offset {wrong}");
    }
    assert_eq!(offset(&h, &url).await, Some(3));
    let r = call(&h, empty(tus(Method::GET, &url))).await;
    assert_eq!(&r.body[..], b"abc");
}

async fn patch_appends_and_answers_new_offset(config: Config) {
    let h = UploadHandler::new(config);
    let url = create(&h, 9).await;
    for (i, part) in [&b"abc"[..], b"def", b"ghi"].iter().enumerate() {
        let r = call(
            &h,
            data(
                tus(Method::PATCH, &url).header("upload-offset", i * 3),
                part,
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(
            r.header("upload-offset"),
            Some(((i + 1) * 3).to_string().as_str())
        );
        assert_eq!(r.header("tus-resumable"), Some("1.0.0"));
    }
    // An empty PATCH on a complete upload changes nothing.
    let r = call(
        &h,
        data(tus(Method::PATCH, &url).header("upload-offset", "9"), b""),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        &call(&h, empty(tus(Method::GET, &url))).await.body[..],
        b"abcdefghi"
    );
}

async fn patch_declaring_more_than_remaining_is_413_and_writes_nothing(config: Config) {
    let h = UploadHandler::new(config);
    let url = create(&h, 4).await;
    let r = call(
        &h,
        data(
            tus(Method::PATCH, &url).header("upload-offset", "0"),
            b"hello",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(offset(&h, &url).await, Some(0));
}

async fn patch_streaming_more_than_remaining_keeps_what_fits_and_completes(config: Config) {
    let h = UploadHandler::new(config);
    let url = create(&h, 4).await;
    // No Content-Length: the excess shows only while streaming.
    let body = Frames::new(&[b"he", b"llo"]);
    let req = tus(Method::PATCH, &url)
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(body)
        .unwrap();
    let res = h.clone().oneshot(req).await.unwrap();
    // What fits completes the upload and the excess is ignored, as tusd
    // does: the client is told it is done, not that it failed.
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["upload-offset"], "4");
    assert_eq!(
        offset(&h, &url).await,
        Some(4),
        "the offset never passes the length"
    );
    assert_eq!(
        &call(&h, empty(tus(Method::GET, &url))).await.body[..],
        b"hell"
    );
}

async fn patch_of_unknown_upload_is_404(config: Config) {
    let h = UploadHandler::new(config);
    let r = call(
        &h,
        data(
            tus(Method::PATCH, "/files/nope").header("upload-offset", "0"),
            b"x",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn delete_terminates_and_later_requests_get_404(config: Config) {
    let h = UploadHandler::new(config);
    let url = create(&h, 5).await;
    call(
        &h,
        data(tus(Method::PATCH, &url).header("upload-offset", "0"), b"he"),
    )
    .await;
    let r = call(&h, empty(tus(Method::DELETE, &url))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        call(&h, empty(tus(Method::HEAD, &url))).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(
            &h,
            data(
                tus(Method::PATCH, &url).header("upload-offset", "2"),
                b"llo"
            )
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&h, empty(tus(Method::GET, &url))).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&h, empty(tus(Method::DELETE, &url))).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn delete_is_405_when_termination_is_disabled(config: Config) {
    let h = UploadHandler::new(config.disable_termination(true));
    let url = create(&h, 5).await;
    assert_eq!(
        call(&h, empty(tus(Method::DELETE, &url))).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(offset(&h, &url).await, Some(0));
    let r = call(&h, empty(tus(Method::OPTIONS, "/files/"))).await;
    assert!(!r.header("tus-extension").unwrap().contains("termination"));
}

async fn get_downloads_the_bytes_with_content_length(config: Config) {
    let h = UploadHandler::new(config);
    let bytes = pattern(300_000);
    let r = call(
        &h,
        data(
            tus(Method::POST, "/files/").header("upload-length", bytes.len()),
            &bytes,
        ),
    )
    .await;
    let url = r.header("location").unwrap().to_owned();
    let r = call(&h, empty(Request::get(&url))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length"), Some("300000"));
    assert_eq!(&r.body[..], &bytes[..]);
    // An unfinished upload downloads as far as it goes.
    let url = create(&h, 10).await;
    call(
        &h,
        data(
            tus(Method::PATCH, &url).header("upload-offset", "0"),
            b"part",
        ),
    )
    .await;
    let r = call(&h, empty(Request::get(&url))).await;
    assert_eq!(r.header("content-length"), Some("4"));
    assert_eq!(&r.body[..], b"part");
}

async fn get_serves_only_safe_types_inline(config: Config) {
    let h = UploadHandler::new(config);
    let cases = [
        ("image/png", "image/png", "inline"),
        ("application/pdf", "application/pdf", "inline"),
        ("text/html", "application/octet-stream", "attachment"),
        ("image/svg+xml", "application/octet-stream", "attachment"),
        ("text/plain; charset=utf-8", "text/plain", "inline"),
        (
            "text/plain\r\nX-Evil: 1",
            "application/octet-stream",
            "attachment",
        ),
    ];
    for (filetype, content_type, disposition) in cases {
        let md = tower_tus::metadata::serialize(&[("filetype", filetype)].into_iter().collect());
        let r = call(
            &h,
            empty(
                tus(Method::POST, "/files/")
                    .header("upload-length", "0")
                    .header("upload-metadata", md),
            ),
        )
        .await;
        let url = r.header("location").unwrap().to_owned();
        let r = call(&h, empty(Request::get(&url))).await;
        assert_eq!(r.header("content-type"), Some(content_type), "{filetype:?}");
        assert!(
            r.header("content-disposition")
                .unwrap()
                .starts_with(disposition),
            "{filetype:?}"
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
}

async fn get_filename_cannot_smuggle_headers(config: Config) {
    let h = UploadHandler::new(config);
    let md = tower_tus::metadata::serialize(
        &[("filename", "x\"\r\nSet-Cookie: a=b.txt")]
            .into_iter()
            .collect(),
    );
    let r = call(
        &h,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-length", "0")
                .header("upload-metadata", md),
        ),
    )
    .await;
    let url = r.header("location").unwrap().to_owned();
    let r = call(&h, empty(Request::get(&url))).await;
    assert!(r.headers.get("set-cookie").is_none());
    let cd = r.header("content-disposition").unwrap();
    assert_eq!(cd.matches('"').count(), 2, "{cd}");
    assert!(!cd.contains('\r') && !cd.contains('\n'));
}

async fn get_is_405_when_download_is_disabled(config: Config) {
    let h = UploadHandler::new(config.disable_download(true));
    let url = create(&h, 0).await;
    assert_eq!(
        call(&h, empty(Request::get(&url))).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

async fn get_needs_no_tus_resumable_but_refuses_a_wrong_one(config: Config) {
    let h = UploadHandler::new(config);
    let url = create(&h, 0).await;
    assert_eq!(
        call(&h, empty(Request::get(&url))).await.status,
        StatusCode::OK
    );
    let r = call(&h, empty(Request::get(&url).header("tus-resumable", "0.1"))).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
}

async fn ids_that_could_escape_are_404(config: Config) {
    let h = UploadHandler::new(config);
    let long = format!("/files/{}", "a".repeat(200));
    let bad = [
        "/files/..",
        "/files/%2e%2e",
        "/files/..%2Fetc%2Fpasswd",
        "/files/a%2Fb",
        "/files/a%00",
        "/files/a.info",
        "/files/a/b",
        long.as_str(),
    ];
    for url in bad {
        for method in [Method::HEAD, Method::GET, Method::DELETE] {
            let r = call(&h, empty(tus(method.clone(), url))).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {url}");
        }
        let r = call(
            &h,
            data(tus(Method::PATCH, url).header("upload-offset", "0"), b"x"),
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "PATCH {url}");
    }
}

async fn errors_are_short_plain_text_with_tus_resumable(config: Config) {
    let h = UploadHandler::new(config);
    let r = call(&h, empty(tus(Method::HEAD, "/files/nope"))).await;
    assert_eq!(r.header("tus-resumable"), Some("1.0.0"));
    let r = call(&h, empty(tus(Method::POST, "/files/"))).await;
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert!(
        r.body.len() < 200 && r.body.ends_with(b"\n"),
        "{}",
        r.text()
    );
}

async fn method_override_turns_post_into_the_named_method(config: Config) {
    let h = UploadHandler::new(config);
    let url = create(&h, 5).await;
    let r = call(
        &h,
        data(
            tus(Method::POST, &url)
                .header("x-http-method-override", "PATCH")
                .header("upload-offset", "0"),
            b"hello",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = call(
        &h,
        empty(tus(Method::POST, &url).header("x-http-method-override", "HEAD")),
    )
    .await;
    assert_eq!(r.header("upload-offset"), Some("5"));
    let r = call(
        &h,
        empty(tus(Method::POST, &url).header("x-http-method-override", "DELETE")),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(offset(&h, &url).await, None);
}

async fn invalid_generated_ids_are_refused(config: Config) {
    let h = UploadHandler::new(config.upload_id_maker(MakeUploadId::new(|| "../escape".into())));
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-length", "1")),
    )
    .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
}
