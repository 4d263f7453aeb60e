//! The handler's metrics as a collector for a `prometheus` crate registry.

use std::collections::HashMap;
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, IntCounterVec, Opts};

use super::Metrics;
use super::samples::{FAMILIES, SampleKind};
use crate::UploadHandler;

/// The handler's metrics, under tusd's names, for an app's own
/// `prometheus::Registry`: scraped with the app's other metrics.
///
/// ```
/// use tower_tus::metrics::PrometheusCollector;
/// use tower_tus::{Config, StoreComposer, UploadHandler, store::MemoryStore};
///
/// let mut composer = StoreComposer::new();
/// MemoryStore::new().use_in(&mut composer);
/// let handler = UploadHandler::new(Config::new(composer));
///
/// let registry = prometheus::Registry::new();
/// registry.register(Box::new(PrometheusCollector::new(&handler))).unwrap();
/// let names: Vec<String> = registry.gather().iter().map(|f| f.name().to_owned()).collect();
/// assert!(names.contains(&"tusd_uploads_created".to_owned()));
/// ```
#[derive(Debug)]
pub struct PrometheusCollector {
    metrics: Arc<Metrics>,
    descs: Vec<Desc>,
}

impl PrometheusCollector {
    /// A collector of `handler`'s metrics.
    pub fn new(handler: &UploadHandler) -> Self {
        let descs = FAMILIES
            .iter()
            .filter_map(|family| {
                let labels = family.labels.iter().map(|l| (*l).to_owned()).collect();
                Desc::new(
                    family.name.to_owned(),
                    family.help.to_owned(),
                    labels,
                    HashMap::new(),
                )
                .ok()
            })
            .collect();
        PrometheusCollector {
            metrics: handler.shared_metrics(),
            descs,
        }
    }
}

impl Collector for PrometheusCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let samples = self.metrics.samples();
        let mut out = Vec::new();
        for family in FAMILIES {
            let labels = family.labels;
            let opts = Opts::new(family.name, family.help);
            let of_family = samples.iter().filter(|s| s.name == family.name);
            let values = |sample: &super::Sample| -> Vec<String> {
                labels
                    .iter()
                    .map(|l| {
                        sample
                            .labels
                            .iter()
                            .find(|(k, _)| k == l)
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default()
                    })
                    .collect()
            };
            let collected = match family.kind {
                SampleKind::Counter => {
                    let Ok(vec) = IntCounterVec::new(opts, labels) else {
                        continue;
                    };
                    for sample in of_family {
                        let values = values(sample);
                        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                        vec.with_label_values(&refs).inc_by(sample.value as u64);
                    }
                    vec.collect()
                }
                SampleKind::Gauge => {
                    let Ok(vec) = GaugeVec::new(opts, labels) else {
                        continue;
                    };
                    for sample in of_family {
                        let values = values(sample);
                        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                        vec.with_label_values(&refs).set(sample.value);
                    }
                    vec.collect()
                }
            };
            out.extend(collected);
        }
        out
    }
}
