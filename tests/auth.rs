//! Uploads behind an auth middleware: the composition of `examples/auth.rs`.

mod common;

#[path = "../examples/auth.rs"]
#[allow(dead_code)]
mod auth_example;

use axum::body::Body;
use bytes::Bytes;
use common::memory_config;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_tus::id::MakeUploadId;

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, http::HeaderMap, Bytes) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

fn tus(method: &str, uri: &str, token: Option<&str>) -> http::request::Builder {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("tus-resumable", "1.0.0");
    if let Some(t) = token {
        b = b.header("authorization", t);
    }
    b
}

#[tokio::test]
async fn uploads_need_credentials_but_preflights_and_public_routes_do_not() {
    let app = auth_example::app(
        memory_config().upload_id_maker(MakeUploadId::new(|| "the-upload".into())),
    );

    // No credentials: refused before anything is created.
    let (status, _, _) = send(
        &app,
        tus("POST", "/files/", None)
            .header("upload-length", "5")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = send(
        &app,
        tus("HEAD", "/files/the-upload", Some("Bearer let-me-in"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was created");

    // With credentials it works.
    let (status, _, _) = send(
        &app,
        tus("POST", "/files/", Some("Bearer let-me-in"))
            .header("upload-length", "5")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // A PATCH without credentials writes nothing.
    let patch = |token| {
        tus("PATCH", "/files/the-upload", token)
            .header("upload-offset", "0")
            .header("content-type", "application/offset+octet-stream")
            .body(Body::from("hello"))
            .unwrap()
    };
    assert_eq!(send(&app, patch(None)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(&app, patch(Some("Bearer wrong"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, headers, _) = send(
        &app,
        tus("HEAD", "/files/the-upload", Some("Bearer let-me-in"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(headers["upload-offset"], "0");
    assert_eq!(
        send(&app, patch(Some("Bearer let-me-in"))).await.0,
        StatusCode::NO_CONTENT
    );

    // A browser preflight carries no credentials and still gets its answer.
    let preflight = Request::options("/files/the-upload")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "PATCH")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(&app, preflight).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(headers["tus-version"], "1.0.0");

    // Public routes need nothing.
    let (status, _, body) = send(&app, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"public\n"[..]));
}
