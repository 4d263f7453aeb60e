//! The handler's metrics recorded through the `metrics` crate as they
//! happen, into whatever recorder the app installed.

use super::samples::{
    CONNECTIONS_OPEN, ERRORS, FAMILIES, Family, HOOK_ERRORS, HOOK_INVOCATIONS, REQUESTS, SampleKind,
};

pub(super) fn request(method: &'static str) {
    metrics::counter!(REQUESTS.name, "method" => method).increment(1);
}

pub(super) fn error(status: u16, code: &'static str) {
    metrics::counter!(ERRORS.name, "status" => status.to_string(), "code" => code).increment(1);
}

pub(super) fn add(family: Family, n: u64) {
    metrics::counter!(family.name).increment(n);
}

pub(super) fn hook(name: &'static str, failed: bool) {
    metrics::counter!(HOOK_INVOCATIONS.name, "hooktype" => name).increment(1);
    if failed {
        metrics::counter!(HOOK_ERRORS.name, "hooktype" => name).increment(1);
    }
}

pub(super) fn connections(delta: f64) {
    metrics::gauge!(CONNECTIONS_OPEN.name).increment(delta);
}

/// Tells the installed `metrics` recorder what each of tusd's metrics
/// means. A handler does it when it is built; call this again after
/// installing a recorder later.
///
/// ```
/// tower_tus::metrics::describe();
/// ```
pub fn describe() {
    for family in FAMILIES {
        match family.kind {
            SampleKind::Counter => metrics::describe_counter!(family.name, family.help),
            SampleKind::Gauge => metrics::describe_gauge!(family.name, family.help),
        }
    }
}
