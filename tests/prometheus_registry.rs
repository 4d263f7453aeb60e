//! The tus metrics merged into an app's own Prometheus registry, under
//! tusd's names.

mod common;

use tower_tus::metrics::PrometheusCollector;

#[tokio::test]
async fn a_prometheus_registry_gathers_them_beside_the_app_s_own() {
    let h = common::memory_handler();
    let registry = prometheus::Registry::new();
    let own = prometheus::IntCounter::new("app_logins_total", "Logins.").unwrap();
    registry.register(Box::new(own.clone())).unwrap();
    registry
        .register(Box::new(PrometheusCollector::new(&h)))
        .unwrap();
    own.inc();
    common::metered_traffic(&h).await;
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
