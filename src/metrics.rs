//! Counters of what the handler does, kept with atomics.
//!
//! ```
//! use tower_tus::{Config, StoreComposer, UploadHandler, store::MemoryStore};
//!
//! let mut composer = StoreComposer::new();
//! MemoryStore::new().use_in(&mut composer);
//! let handler = UploadHandler::new(Config::new(composer));
//! assert_eq!(handler.metrics().uploads_created(), 0);
//! ```

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
    }

    pub(crate) fn error(&self, status: u16, code: &'static str) {
        bump(&self.errors, (status, code));
    }

    pub(crate) fn received(&self, bytes: u64) {
        self.bytes_received.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn created(&self) {
        self.uploads_created.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn finished(&self) {
        self.uploads_finished.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn terminated(&self) {
        self.uploads_terminated.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn hook(&self, name: &'static str, failed: bool) {
        bump(&self.hook_invocations, name);
        if failed {
            bump(&self.hook_errors, name);
        }
    }

    pub(crate) fn events_dropped_add(&self, n: u64) {
        self.events_dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a connection opened; servers call this (the handler sees requests, not connections).
    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection closed.
    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
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

    /// The counters in the Prometheus text format, with tusd's metric names.
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn render_prometheus(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let section = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        section(
            &mut out,
            "tusd_requests_total",
            "counter",
            "Total number of requests served per method.",
        );
        for (i, m) in METHODS.iter().enumerate() {
            let _ = writeln!(
                out,
                "tusd_requests_total{{method=\"{m}\"}} {}",
                self.requests[i].load(Ordering::Relaxed)
            );
        }
        section(
            &mut out,
            "tusd_errors_total",
            "counter",
            "Total number of errors per status and code.",
        );
        for ((status, code), n) in self.errors.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(
                out,
                "tusd_errors_total{{status=\"{status}\",code=\"{code}\"}} {n}"
            );
        }
        for (name, help, value) in [
            (
                "tusd_bytes_received",
                "Number of bytes received for uploads.",
                self.bytes_received(),
            ),
            (
                "tusd_uploads_created",
                "Number of created uploads.",
                self.uploads_created(),
            ),
            (
                "tusd_uploads_finished",
                "Number of finished uploads.",
                self.uploads_finished(),
            ),
            (
                "tusd_uploads_terminated",
                "Number of terminated uploads.",
                self.uploads_terminated(),
            ),
            (
                "tusd_events_dropped",
                "Number of events slow subscribers missed.",
                self.events_dropped(),
            ),
        ] {
            section(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {value}");
        }
        section(
            &mut out,
            "tusd_connections_open",
            "gauge",
            "Current number of open connections.",
        );
        let _ = writeln!(out, "tusd_connections_open {}", self.connections_open());
        for (name, help, map) in [
            (
                "tusd_hook_invocations_total",
                "Total number of invocations per hook type.",
                &self.hook_invocations,
            ),
            (
                "tusd_hook_errors_total",
                "Total number of hook errors per hook type.",
                &self.hook_errors,
            ),
        ] {
            section(&mut out, name, "counter", help);
            for (hook, n) in map.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                let _ = writeln!(out, "{name}{{hooktype=\"{hook}\"}} {n}");
            }
        }
        out
    }
}
