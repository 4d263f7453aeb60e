use std::sync::atomic::Ordering;

use super::{METHODS, Metrics};

/// What kind of value a [`Sample`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SampleKind {
    /// Only ever goes up.
    Counter,
    /// Goes up and down.
    Gauge,
}

/// One value of the handler's metrics, named as tusd names it.
///
/// ```
/// use tower_tus::{Config, StoreComposer, UploadHandler, store::MemoryStore};
///
/// let mut composer = StoreComposer::new();
/// MemoryStore::new().use_in(&mut composer);
/// let handler = UploadHandler::new(Config::new(composer));
/// let created = handler
///     .metrics()
///     .samples()
///     .into_iter()
///     .find(|s| s.name == "tusd_uploads_created")
///     .unwrap();
/// assert_eq!(created.value, 0.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Sample {
    /// The metric's name, e.g. `tusd_requests_total`.
    pub name: &'static str,
    /// What it counts.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: SampleKind,
    /// Its labels, e.g. `("method", "PATCH")`.
    pub labels: Vec<(&'static str, String)>,
    /// Its value now.
    pub value: f64,
}

/// A metric's name, help and kind.
#[derive(Clone, Copy, Debug)]
pub(super) struct Family {
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    pub(super) kind: SampleKind,
    pub(super) labels: &'static [&'static str],
}

const fn counter(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        help,
        kind: SampleKind::Counter,
        labels: &[],
    }
}

const fn labelled(family: Family, labels: &'static [&'static str]) -> Family {
    Family { labels, ..family }
}

pub(super) const REQUESTS: Family = labelled(
    counter(
        "tusd_requests_total",
        "Total number of requests served per method.",
    ),
    &["method"],
);
pub(super) const ERRORS: Family = labelled(
    counter(
        "tusd_errors_total",
        "Total number of errors per status and code.",
    ),
    &["status", "code"],
);
pub(super) const BYTES_RECEIVED: Family = counter(
    "tusd_bytes_received",
    "Number of bytes received for uploads.",
);
pub(super) const UPLOADS_CREATED: Family =
    counter("tusd_uploads_created", "Number of created uploads.");
pub(super) const UPLOADS_FINISHED: Family =
    counter("tusd_uploads_finished", "Number of finished uploads.");
pub(super) const UPLOADS_TERMINATED: Family =
    counter("tusd_uploads_terminated", "Number of terminated uploads.");
pub(super) const EVENTS_DROPPED: Family = counter(
    "tusd_events_dropped",
    "Number of events slow subscribers missed.",
);
pub(super) const CONNECTIONS_OPEN: Family = Family {
    name: "tusd_connections_open",
    help: "Current number of open connections.",
    kind: SampleKind::Gauge,
    labels: &[],
};
pub(super) const HOOK_INVOCATIONS: Family = labelled(
    counter(
        "tusd_hook_invocations_total",
        "Total number of invocations per hook type.",
    ),
    &["hooktype"],
);
pub(super) const HOOK_ERRORS: Family = labelled(
    counter(
        "tusd_hook_errors_total",
        "Total number of hook errors per hook type.",
    ),
    &["hooktype"],
);

/// Every family, in the order they are reported.
pub(super) const FAMILIES: [Family; 10] = [
    REQUESTS,
    ERRORS,
    BYTES_RECEIVED,
    UPLOADS_CREATED,
    UPLOADS_FINISHED,
    UPLOADS_TERMINATED,
    EVENTS_DROPPED,
    CONNECTIONS_OPEN,
    HOOK_INVOCATIONS,
    HOOK_ERRORS,
];

impl Family {
    fn sample(self, labels: Vec<(&'static str, String)>, value: f64) -> Sample {
        Sample {
            name: self.name,
            help: self.help,
            kind: self.kind,
            labels,
            value,
        }
    }
}

impl Metrics {
    /// Every value now, family by family in [`render_prometheus`]'s order.
    /// A family with labels has one sample per label set seen so far
    /// (requests: one per method, always).
    ///
    /// [`render_prometheus`]: Metrics::render_prometheus
    pub fn samples(&self) -> Vec<Sample> {
        let mut out = Vec::new();
        for (i, method) in METHODS.iter().enumerate() {
            out.push(REQUESTS.sample(
                vec![(REQUESTS.labels[0], (*method).to_owned())],
                self.requests[i].load(Ordering::Relaxed) as f64,
            ));
        }
        for ((status, code), n) in self.errors.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            out.push(ERRORS.sample(
                vec![
                    (ERRORS.labels[0], status.to_string()),
                    (ERRORS.labels[1], (*code).to_owned()),
                ],
                *n as f64,
            ));
        }
        for (family, value) in [
            (BYTES_RECEIVED, self.bytes_received()),
            (UPLOADS_CREATED, self.uploads_created()),
            (UPLOADS_FINISHED, self.uploads_finished()),
            (UPLOADS_TERMINATED, self.uploads_terminated()),
            (EVENTS_DROPPED, self.events_dropped()),
        ] {
            out.push(family.sample(Vec::new(), value as f64));
        }
        out.push(CONNECTIONS_OPEN.sample(Vec::new(), self.connections_open() as f64));
        for (family, map) in [
            (HOOK_INVOCATIONS, &self.hook_invocations),
            (HOOK_ERRORS, &self.hook_errors),
        ] {
            for (hook, n) in map.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                out.push(family.sample(vec![(family.labels[0], (*hook).to_owned())], *n as f64));
            }
        }
        out
    }
}
