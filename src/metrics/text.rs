use std::fmt::Write;

use super::Metrics;
use super::samples::{FAMILIES, SampleKind};

impl Metrics {
    /// The metrics in the Prometheus text format, with tusd's names.
    ///
    /// ```
    /// use tower_tus::{Config, StoreComposer, UploadHandler, store::MemoryStore};
    ///
    /// let mut composer = StoreComposer::new();
    /// MemoryStore::new().use_in(&mut composer);
    /// let handler = UploadHandler::new(Config::new(composer));
    /// assert!(handler.metrics().render_prometheus().contains("tusd_uploads_created 0"));
    /// ```
    pub fn render_prometheus(&self) -> String {
        let samples = self.samples();
        let mut out = String::new();
        for family in FAMILIES {
            let kind = match family.kind {
                SampleKind::Counter => "counter",
                SampleKind::Gauge => "gauge",
            };
            let _ = writeln!(
                out,
                "# HELP {} {}\n# TYPE {} {kind}",
                family.name, family.help, family.name
            );
            for sample in samples.iter().filter(|s| s.name == family.name) {
                out.push_str(sample.name);
                if !sample.labels.is_empty() {
                    let labels: Vec<String> = sample
                        .labels
                        .iter()
                        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                        .collect();
                    let _ = write!(out, "{{{}}}", labels.join(","));
                }
                let _ = writeln!(out, " {}", sample.value);
            }
        }
        out
    }
}

/// A label value as the text format needs it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
