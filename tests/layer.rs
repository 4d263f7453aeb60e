//! The middleware: pass-through, routing, CORS, and use inside axum.

mod common;

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use bytes::Bytes;
use common::*;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_layer::Layer;
use tower_tus::cors::{AllowOrigin, Cors};
use tower_tus::{Config, TusLayer, UploadHandler};

#[derive(Clone, Debug, PartialEq)]
struct Marker(u32);

async fn collect<B>(res: Response<B>) -> (StatusCode, http::HeaderMap, Bytes)
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = res.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test]
async fn non_tus_requests_pass_through_untouched() {
    let inner = service_fn(|req: Request<Full<Bytes>>| async move {
        // Everything the client sent arrives as sent.
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri(), "/api/things?x=1");
        assert_eq!(req.headers()["x-custom"], "v");
        assert_eq!(req.headers()["x-http-method-override"], "DELETE");
        assert_eq!(req.headers().get("tus-resumable"), None);
        assert_eq!(req.extensions().get::<Marker>(), Some(&Marker(7)));
        let body = req.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"\x00binary\xffbody");
        let mut res = Response::new(Full::new(Bytes::from_static(b"inner \x00 reply")));
        *res.status_mut() = StatusCode::IM_A_TEAPOT;
        res.headers_mut()
            .insert("x-inner", HeaderValue::from_static("yes"));
        Ok::<_, Infallible>(res)
    });
    let svc = TusLayer::new(memory_config()).layer(inner);
    let mut req = Request::post("/api/things?x=1")
        .header("x-custom", "v")
        .header("x-http-method-override", "DELETE")
        .header("origin", "https://not-allowed.example")
        .body(Full::new(Bytes::from_static(b"\x00binary\xffbody")))
        .unwrap();
    req.extensions_mut().insert(Marker(7));
    let (status, headers, body) = collect(svc.oneshot(req).await.unwrap()).await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT);
    assert_eq!(&body[..], b"inner \x00 reply");
    assert_eq!(headers["x-inner"], "yes");
    assert_eq!(headers.len(), 1, "no tus or CORS header added: {headers:?}");
}

fn teapot()
-> impl tower::Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible>
+ Clone {
    service_fn(|_req: Request<Full<Bytes>>| async {
        let mut res = Response::new(Full::new(Bytes::from_static(b"inner")));
        *res.status_mut() = StatusCode::IM_A_TEAPOT;
        Ok::<_, Infallible>(res)
    })
}

#[tokio::test]
async fn only_paths_under_the_base_path_are_tus() {
    let svc = ServiceBuilder::new()
        .layer(TusLayer::new(memory_config().base_path("uploads")))
        .service(teapot());
    for (path, tus_answers) in [
        ("/uploads/", true),
        ("/uploads", true),
        ("/uploads/abc", true),
        ("/uploads/a/b", true),
        ("/uploadsx", false),
        ("/files/", false),
        ("/", false),
    ] {
        let res = svc
            .clone()
            .oneshot(empty(tus(Method::HEAD, path)))
            .await
            .unwrap();
        assert_eq!(
            res.status() != StatusCode::IM_A_TEAPOT,
            tus_answers,
            "{path}"
        );
    }
}

#[tokio::test]
async fn version_check_applies_to_tus_paths_only() {
    let svc = TusLayer::new(memory_config()).layer(teapot());
    let res = svc
        .clone()
        .oneshot(empty(Request::post("/files/").header("upload-length", "1")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    let res = svc
        .oneshot(empty(Request::post("/elsewhere")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::IM_A_TEAPOT);
}

#[tokio::test]
async fn preflight_is_answered_with_cors_and_tus_discovery() {
    let h = UploadHandler::new(memory_config().max_size(10));
    let r = call(
        &h,
        empty(
            Request::options("/files/")
                .header("origin", "https://app.example")
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "upload-length, tus-resumable",
                ),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("vary"), Some("Origin"));
    assert!(
        r.header("access-control-allow-methods")
            .unwrap()
            .contains("PATCH")
    );
    let allowed = r
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in [
        "upload-length",
        "upload-offset",
        "tus-resumable",
        "upload-metadata",
        "content-type",
    ] {
        assert!(allowed.contains(h), "{h} in {allowed}");
    }
    assert_eq!(r.header("access-control-max-age"), Some("86400"));
    assert_eq!(r.header("tus-version"), Some("1.0.0"));
    assert_eq!(r.header("tus-max-size"), Some("10"));
}

#[tokio::test]
async fn allowed_origins_see_the_tus_headers_exposed() {
    let cors = Cors::new()
        .allow_origin(AllowOrigin::list(["https://app.example"]))
        .allow_credentials(true)
        .expose_headers(["X-Upload-Owner"]);
    let h = UploadHandler::new(memory_config().cors(cors));
    let r = call(
        &h,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-length", "1")
                .header("origin", "https://app.example"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("vary"), Some("Origin"));
    let exposed = r.header("access-control-expose-headers").unwrap();
    for h in [
        "Location",
        "Upload-Offset",
        "Upload-Length",
        "Tus-Resumable",
        "X-Upload-Owner",
    ] {
        assert!(exposed.contains(h), "{h} in {exposed}");
    }
    // No Origin: no CORS headers.
    let r = call(
        &h,
        empty(tus(Method::POST, "/files/").header("upload-length", "1")),
    )
    .await;
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn disallowed_origins_get_403_and_nothing_happens() {
    let cors = Cors::new().allow_origin(AllowOrigin::predicate(|o| {
        o.as_bytes().ends_with(b".good.example")
    }));
    let h = UploadHandler::new(
        memory_config()
            .cors(cors)
            .upload_id_maker(tower_tus::id::MakeUploadId::new(|| "x".into())),
    );
    let r = call(
        &h,
        empty(
            Request::options("/files/")
                .header("origin", "https://evil.example")
                .header("access-control-request-method", "POST"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = call(
        &h,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-length", "1")
                .header("origin", "https://evil.example"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(offset(&h, "/files/x").await, None, "nothing created");
    let r = call(
        &h,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-length", "1")
                .header("origin", "https://a.good.example"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn disabled_cors_ignores_origin() {
    let h = UploadHandler::new(memory_config().cors(Cors::disabled()));
    let r = call(
        &h,
        empty(
            tus(Method::POST, "/files/")
                .header("upload-length", "1")
                .header("origin", "https://any.example"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(
        r.headers
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-"))
    );
}

async fn axum_call(app: Router, req: Request<Body>) -> (StatusCode, http::HeaderMap, Bytes) {
    collect(app.oneshot(req).await.unwrap()).await
}

#[tokio::test]
async fn axum_router_wrapped_by_the_layer() {
    let router = Router::new()
        .route("/", get(|| async { "home" }))
        .route("/echo", post(|body: Bytes| async move { body }));
    let app = Router::new().fallback_service(TusLayer::new(memory_config()).layer(router));

    let (status, _, body) =
        axum_call(app.clone(), Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"home"[..]));
    let (_, _, body) = axum_call(
        app.clone(),
        Request::post("/echo").body(Body::from("abc")).unwrap(),
    )
    .await;
    assert_eq!(&body[..], b"abc");

    let req = Request::post("/files/")
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "5")
        .header("content-type", "application/offset+octet-stream")
        .body(Body::from("hello"))
        .unwrap();
    let (status, headers, _) = axum_call(app.clone(), req).await;
    assert_eq!(status, StatusCode::CREATED);
    let url = headers["location"].to_str().unwrap().to_owned();
    let (_, _, body) = axum_call(app, Request::get(&url).body(Body::empty()).unwrap()).await;
    assert_eq!(&body[..], b"hello");
}

#[tokio::test]
async fn axum_nest_service_with_the_standalone_handler() {
    let handler = UploadHandler::new(memory_config());
    let app = Router::new()
        .route("/", get(|| async { "home" }))
        .nest_service("/files", handler);

    let req = Request::post("/files/")
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "3")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = axum_call(app.clone(), req).await;
    assert_eq!(status, StatusCode::CREATED);
    let url = headers["location"].to_str().unwrap().to_owned();
    assert!(url.starts_with("/files/"), "{url}");
    let req = Request::patch(&url)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(Body::from("abc"))
        .unwrap();
    let (status, headers, _) = axum_call(app.clone(), req).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers["upload-offset"], "3");
    let (_, _, body) = axum_call(app, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(&body[..], b"home");
}

#[tokio::test]
async fn per_method_handlers_serve_apps_that_route_themselves() {
    let h = UploadHandler::new(memory_config());
    let app = Router::new()
        .route(
            "/up",
            post({
                let h = h.clone();
                move |req: Request<Body>| async move { h.post(req).await }
            }),
        )
        .route(
            "/up/{id}",
            axum::routing::patch({
                let h = h.clone();
                move |req: Request<Body>| async move { h.patch(req).await }
            })
            .head({
                let h = h.clone();
                move |req: Request<Body>| async move { h.head(req).await }
            }),
        );
    let req = Request::post("/up")
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "2")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = axum_call(app.clone(), req).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = headers["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let req = Request::patch(format!("/up/{id}"))
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(Body::from("ok"))
        .unwrap();
    assert_eq!(axum_call(app.clone(), req).await.0, StatusCode::NO_CONTENT);
    let req = Request::head(format!("/up/{id}"))
        .header("tus-resumable", "1.0.0")
        .body(Body::empty())
        .unwrap();
    let (_, headers, _) = axum_call(app, req).await;
    assert_eq!(headers["upload-offset"], "2");
}

#[tokio::test]
async fn the_standalone_handler_answers_404_for_paths_that_are_not_uploads() {
    let h = UploadHandler::new(Config::clone(&memory_config()));
    let r = call(&h, empty(tus(Method::HEAD, "/somewhere/else"))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// An inner service that is ready only once `open` is set.
#[derive(Clone)]
struct Gate {
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl tower::Service<Request<Full<Bytes>>> for Gate {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        if self.open.load(std::sync::atomic::Ordering::SeqCst) {
            std::task::Poll::Ready(Ok(()))
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }

    fn call(&mut self, _req: Request<Full<Bytes>>) -> Self::Future {
        assert!(
            self.open.load(std::sync::atomic::Ordering::SeqCst),
            "called before it was ready"
        );
        std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"app")))))
    }
}

#[tokio::test]
async fn the_inner_services_readiness_never_holds_back_tus_requests() {
    let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let svc = TusLayer::new(memory_config()).layer(Gate { open: open.clone() });
    // The inner service is not ready, yet tus requests are served.
    let res = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        svc.clone().oneshot(
            tus(Method::POST, "/files/")
                .header("upload-length", "3")
                .body(Full::default())
                .unwrap(),
        ),
    )
    .await
    .expect("a tus request does not wait for the inner service")
    .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // A request for the app waits until the app is ready, and is then served.
    let pending = tokio::spawn(svc.oneshot(Request::get("/app").body(Full::default()).unwrap()));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(
        !pending.is_finished(),
        "passed through before the app was ready"
    );
    open.store(true, std::sync::atomic::Ordering::SeqCst);
    let res = pending.await.unwrap().unwrap();
    let (status, _, body) = collect(res).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"app"[..]));
}
