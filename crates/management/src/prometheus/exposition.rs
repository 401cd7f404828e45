//! The text exposition format: `# TYPE`, `# HELP`, then the samples of each metric family.

use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Untyped,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Untyped => "untyped",
        }
    }
}

/// The text being written.
#[derive(Debug, Default)]
pub struct Exposition(String);

impl Exposition {
    pub fn with_capacity(capacity: usize) -> Self {
        Exposition(String::with_capacity(capacity))
    }

    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = kind.as_str();
        let _ = writeln!(self.0, "# TYPE {name} {kind}\n# HELP {name} {help}");
    }

    /// One sample; `labels` are `name="value"` pairs, comma-separated, values [`escaped`].
    pub fn sample(&mut self, name: &str, labels: &str, value: u64) {
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {value}");
        } else {
            let _ = writeln!(self.0, "{name}{{{labels}}} {value}");
        }
    }

    /// A family of one sample without labels.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: u64) {
        self.family(name, kind, help);
        self.sample(name, "", value);
    }

    /// A family of one sample per object (`per_object`: labelled, as `/metrics/per-object`
    /// has them), or of their sum without labels (as `/metrics` aggregates them).
    pub fn per_object(
        &mut self,
        (name, kind, help): (&str, Kind, &str),
        per_object: bool,
        samples: impl Iterator<Item = (String, u64)>,
    ) {
        self.family(name, kind, help);
        if per_object {
            for (labels, value) in samples {
                self.sample(name, &labels, value);
            }
        } else {
            self.sample(name, "", samples.map(|(_, value)| value).sum());
        }
    }

    pub fn into_text(self) -> String {
        self.0
    }
}

/// A label value, escaped as the text format wants.
pub fn escaped(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_object_samples_are_labelled_or_summed() {
        let samples = || [("q=\"a\"".to_string(), 2), ("q=\"b\"".to_string(), 3)].into_iter();
        let family = ("m", Kind::Gauge, "Help");
        let mut labelled = Exposition::default();
        labelled.per_object(family, true, samples());
        assert_eq!(
            labelled.into_text(),
            "# TYPE m gauge\n# HELP m Help\nm{q=\"a\"} 2\nm{q=\"b\"} 3\n"
        );
        let mut summed = Exposition::default();
        summed.per_object(family, false, samples());
        assert_eq!(summed.into_text(), "# TYPE m gauge\n# HELP m Help\nm 5\n");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escaped("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
