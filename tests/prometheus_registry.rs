//! The tus metrics merged into an app's own Prometheus registry, under
//! tusd's names.

mod common;

use common::{call, create, patch};
use http::Method;
use tower_tus::metrics::PrometheusCollector;
use tower_tus::store::MemoryStore;
use tower_tus::{Config, StoreComposer, UploadHandler};

fn handler() -> UploadHandler {
    let mut composer = StoreComposer::new();
    MemoryStore::new().use_in(&mut composer);
    UploadHandler::new(Config::new(composer))
}

/// One upload of 5 bytes, a PATCH at a wrong offset, and a HEAD.
async fn traffic(h: &UploadHandler) {
    let url = create(h, 5).await;
    assert_eq!(patch(h, &url, 0, b"hello").await.status, 204);
    assert_eq!(patch(h, &url, 3, b"x").await.status, 409);
    call(h, common::empty(common::tus(Method::HEAD, &url))).await;
}

#[tokio::test]
async fn a_prometheus_registry_gathers_them_beside_the_app_s_own() {
    let h = handler();
    let registry = prometheus::Registry::new();
    let own = prometheus::IntCounter::new("app_logins_total", "Logins.").unwrap();
    registry.register(Box::new(own.clone())).unwrap();
    registry
        .register(Box::new(PrometheusCollector::new(&h)))
        .unwrap();
    own.inc();
    traffic(&h).await;
    let mut text = Vec::new();
    prometheus::Encoder::encode(
        &prometheus::TextEncoder::new(),
        &registry.gather(),
        &mut text,
    )
    .unwrap();
    let text = String::from_utf8(text).unwrap();
    for line in [
        "app_logins_total 1",
        "tusd_uploads_created 1",
        "tusd_uploads_finished 1",
        "tusd_bytes_received 5",
        "tusd_requests_total{method=\"PATCH\"} 2",
        "tusd_requests_total{method=\"HEAD\"} 1",
        "tusd_errors_total{code=\"ERR_MISMATCHED_OFFSET\",status=\"409\"} 1",
        "tusd_connections_open 0",
        "# TYPE tusd_uploads_created counter",
        "# HELP tusd_uploads_created Number of created uploads.",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}
