//! One scrape's worth of metrics: named families of counters and gauges with label sets,
//! encoded by the `prometheus` crate in Prometheus' classic text format (`version=0.0.4`), the
//! format Flink's Prometheus reporter answers and every scraper and parser reads.

use std::collections::BTreeMap;

use prometheus::core::Collector;
use prometheus::{Encoder, GaugeVec, IntCounterVec, Opts, Registry, TextEncoder};

/// The `Content-Type` of [`Exposition::encode`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label set: `(name, value)` pairs.
pub type Labels = Vec<(String, String)>;

/// Metric families of one scrape, under a common prefix (`strom_`).
pub struct Exposition {
    registry: Registry,
    counters: BTreeMap<&'static str, IntCounterVec>,
    gauges: BTreeMap<&'static str, GaugeVec>,
}

impl std::fmt::Debug for Exposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exposition")
            .field("counters", &self.counters.len())
            .field("gauges", &self.gauges.len())
            .finish()
    }
}

impl Default for Exposition {
    fn default() -> Self {
        Self::new()
    }
}

fn names(labels: &Labels) -> Vec<&str> {
    labels.iter().map(|(name, _)| name.as_str()).collect()
}

fn values(labels: &Labels) -> Vec<&str> {
    labels.iter().map(|(_, value)| value.as_str()).collect()
}

/// A family is registered on first use; the names come from strom's code, so a failure is a
/// bug worth a warning, not a reason to fail the scrape.
fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    name: &str,
    family: C,
) -> Option<C> {
    match registry.register(Box::new(family.clone())) {
        Ok(()) => Some(family),
        Err(e) => {
            tracing::warn!(metric = name, error = %e, "cannot register a metric");
            None
        }
    }
}

impl Exposition {
    /// An empty exposition whose metric names start with `strom_`.
    pub fn new() -> Self {
        Self {
            registry: Registry::new_custom(Some("strom".to_owned()), None).unwrap_or_default(),
            counters: BTreeMap::new(),
            gauges: BTreeMap::new(),
        }
    }

    /// Sets a monotonically growing count; encoded as `strom_<name>_total`. Every sample of a
    /// family has the same label names.
    pub fn counter(&mut self, name: &'static str, help: &str, labels: Labels, value: u64) {
        if !self.counters.contains_key(name) {
            let family =
                IntCounterVec::new(Opts::new(format!("{name}_total"), help), &names(&labels))
                    .ok()
                    .and_then(|f| register(&self.registry, name, f));
            let Some(family) = family else { return };
            self.counters.insert(name, family);
        }
        if let Some(family) = self.counters.get(name) {
            match family.get_metric_with_label_values(&values(&labels)) {
                Ok(counter) => counter.inc_by(value),
                Err(e) => tracing::warn!(metric = name, error = %e, "labels do not fit the metric"),
            }
        }
    }

    /// Sets a value that goes up and down; encoded as `strom_<name>`.
    pub fn gauge(&mut self, name: &'static str, help: &str, labels: Labels, value: f64) {
        if !self.gauges.contains_key(name) {
            let family = GaugeVec::new(Opts::new(name, help), &names(&labels))
                .ok()
                .and_then(|f| register(&self.registry, name, f));
            let Some(family) = family else { return };
            self.gauges.insert(name, family);
        }
        if let Some(family) = self.gauges.get(name) {
            match family.get_metric_with_label_values(&values(&labels)) {
                Ok(gauge) => gauge.set(value),
                Err(e) => tracing::warn!(metric = name, error = %e, "labels do not fit the metric"),
            }
        }
    }

    /// The text to answer a scrape with.
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "cannot encode every metric");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// A label set from `(name, value)` pairs.
#[macro_export]
macro_rules! labels {
    ($($name:literal => $value:expr),* $(,)?) => {
        vec![$(($name.to_owned(), ($value).to_string())),*]
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_encode_as_prometheus_text() {
        let mut e = Exposition::new();
        e.counter(
            "records_in",
            "Records received.",
            labels!("vertex" => "a b\"c"),
            7,
        );
        e.counter(
            "records_in",
            "Records received.",
            labels!("vertex" => "d"),
            9,
        );
        e.gauge("watermark_lag_seconds", "Lag.", labels!(), 1.5);
        let text = e.encode();
        assert!(
            text.contains(r#"strom_records_in_total{vertex="a b\"c"} 7"#),
            "{text}"
        );
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .unwrap_or_else(|e| panic!("not Prometheus text ({e}):\n{text}"));
        let find = |name: &str, vertex: Option<&str>| {
            scrape
                .samples
                .iter()
                .find(|s| {
                    s.metric == name && vertex.is_none_or(|v| s.labels.get("vertex") == Some(v))
                })
                .map(|s| s.value.clone())
        };
        assert_eq!(
            find("strom_records_in_total", Some("d")),
            Some(prometheus_parse::Value::Counter(9.0))
        );
        assert_eq!(
            find("strom_watermark_lag_seconds", None),
            Some(prometheus_parse::Value::Gauge(1.5))
        );
    }
}
