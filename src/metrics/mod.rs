//! Counters of what the handler does, kept with atomics, under tusd's
//! metric names.
//!
//! Read them one by one, as [`samples`](Metrics::samples), or in the
//! Prometheus text format ([`render_prometheus`](Metrics::render_prometheus));
//! merge them into a `prometheus` crate registry (feature `prometheus`,
//! [`PrometheusCollector`]), or have them recorded by the `metrics` crate's
//! recorder as they happen (feature `metrics`).
//!
//! ```
//! use tower_tus::{Config, StoreComposer, UploadHandler, store::MemoryStore};
//!
//! let mut composer = StoreComposer::new();
//! MemoryStore::new().use_in(&mut composer);
//! let handler = UploadHandler::new(Config::new(composer));
//! assert_eq!(handler.metrics().uploads_created(), 0);
//! ```

#[cfg(feature = "metrics")]
mod facade;
#[cfg(feature = "prometheus")]
mod prometheus_collector;
mod samples;
mod text;

#[cfg(feature = "metrics")]
pub use facade::describe;
#[cfg(feature = "prometheus")]
pub use prometheus_collector::PrometheusCollector;
pub use samples::{Sample, SampleKind};

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use http::Method;

const METHODS: [&str; 7] = ["OPTIONS", "POST", "HEAD", "PATCH", "DELETE", "GET", "OTHER"];

/// The handler's counters. Reading them never blocks an upload.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: [AtomicU64; 7],
    errors: Mutex<BTreeMap<(u16, &'static str), u64>>,
    bytes_received: AtomicU64,
    uploads_created: AtomicU64,
    uploads_finished: AtomicU64,
    uploads_terminated: AtomicU64,
    connections_open: AtomicI64,
    hook_invocations: Mutex<BTreeMap<&'static str, u64>>,
    hook_errors: Mutex<BTreeMap<&'static str, u64>>,
    events_dropped: AtomicU64,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    *map.lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_default() += 1;
}

impl Metrics {
    pub(crate) fn request(&self, method: &Method) {
        let i = METHODS
            .iter()
            .position(|m| *m == method.as_str())
            .unwrap_or(6);
        self.requests[i].fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        facade::request(METHODS[i]);
    }

    pub(crate) fn error(&self, status: u16, code: &'static str) {
        bump(&self.errors, (status, code));
        #[cfg(feature = "metrics")]
        facade::error(status, code);
    }

    pub(crate) fn received(&self, bytes: u64) {
        self.bytes_received.fetch_add(bytes, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        facade::add(samples::BYTES_RECEIVED, bytes);
    }

    pub(crate) fn created(&self) {
        self.uploads_created.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        facade::add(samples::UPLOADS_CREATED, 1);
    }

    pub(crate) fn finished(&self) {
        self.uploads_finished.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        facade::add(samples::UPLOADS_FINISHED, 1);
    }

    pub(crate) fn terminated(&self) {
        self.uploads_terminated.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        facade::add(samples::UPLOADS_TERMINATED, 1);
    }

    pub(crate) fn hook(&self, name: &'static str, failed: bool) {
        bump(&self.hook_invocations, name);
        if failed {
            bump(&self.hook_errors, name);
        }
        #[cfg(feature = "metrics")]
        facade::hook(name, failed);
    }

    pub(crate) fn events_dropped_add(&self, n: u64) {
        self.events_dropped.fetch_add(n, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        facade::add(samples::EVENTS_DROPPED, n);
    }

    /// Counts a connection opened; servers call this (the handler sees requests, not connections).
    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        facade::connections(1.0);
    }

    /// Counts a connection closed.
    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        facade::connections(-1.0);
    }

    /// Requests served with `method`.
    pub fn requests(&self, method: &Method) -> u64 {
        let i = METHODS
            .iter()
            .position(|m| *m == method.as_str())
            .unwrap_or(6);
        self.requests[i].load(Ordering::Relaxed)
    }

    /// Error responses with this status.
    pub fn errors(&self, status: u16) -> u64 {
        let errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        errors
            .iter()
            .filter(|((s, _), _)| *s == status)
            .map(|(_, n)| n)
            .sum()
    }

    /// Upload bytes received and kept.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received.load(Ordering::Relaxed)
    }

    /// Uploads created.
    pub fn uploads_created(&self) -> u64 {
        self.uploads_created.load(Ordering::Relaxed)
    }

    /// Uploads that received their last byte.
    pub fn uploads_finished(&self) -> u64 {
        self.uploads_finished.load(Ordering::Relaxed)
    }

    /// Uploads terminated (by DELETE or expiry).
    pub fn uploads_terminated(&self) -> u64 {
        self.uploads_terminated.load(Ordering::Relaxed)
    }

    /// Connections open now, as counted by the server.
    pub fn connections_open(&self) -> i64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    /// Events a slow subscriber missed.
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped.load(Ordering::Relaxed)
    }
}
