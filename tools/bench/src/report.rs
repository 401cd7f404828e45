//! The one JSON line a run prints, written by hand (a few dozen fields do not need a JSON
//! library), and the pass/fail decision.

use std::fmt::Write as _;

use crate::args::Options;
use crate::procfs::{bytes_each, Usage};
use crate::scenario::runner::RunOutcome;

/// A JSON object being written: `{"k":v,...}`.
pub struct Json {
    out: String,
    empty: bool,
}

impl Default for Json {
    fn default() -> Self {
        Json {
            out: String::from("{"),
            empty: true,
        }
    }
}

impl Json {
    fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        push_string(&mut self.out, key);
        self.out.push(':');
    }

    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        push_string(&mut self.out, value);
        self
    }

    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }

    pub fn int(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        let _ = write!(self.out, "{value}");
        self
    }

    pub fn opt_int(&mut self, key: &str, value: Option<u64>) -> &mut Self {
        match value {
            Some(v) => self.int(key, v),
            None => self.raw(key, "null"),
        }
    }

    /// A number with `decimals` digits after the point; NaN and infinities are `null`.
    pub fn num(&mut self, key: &str, value: f64, decimals: usize) -> &mut Self {
        if !value.is_finite() {
            return self.raw(key, "null");
        }
        self.key(key);
        let _ = write!(self.out, "{value:.decimals$}");
        self
    }

    pub fn opt_num(&mut self, key: &str, value: Option<f64>, decimals: usize) -> &mut Self {
        match value {
            Some(v) => self.num(key, v, decimals),
            None => self.raw(key, "null"),
        }
    }

    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.raw(key, if value { "true" } else { "false" })
    }

    pub fn strings(&mut self, key: &str, values: &[String]) -> &mut Self {
        self.key(key);
        self.out.push('[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            push_string(&mut self.out, v);
        }
        self.out.push(']');
        self
    }

    pub fn object(&mut self, key: &str, value: Json) -> &mut Self {
        let text = value.finish();
        self.raw(key, &text)
    }

    /// `value` must be valid JSON.
    pub fn raw(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        self.out.push_str(value);
        self
    }

    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The fields every run starts with.
pub fn header(o: &Options) -> Json {
    let mut j = Json::default();
    j.str("scenario", o.scenario.name())
        .opt_str("label", o.label.as_deref())
        .str("url", &o.url.redacted());
    j
}

fn rate(count: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// The `broker` and `tool` objects: CPU seconds (and µs per `unit`) and the broker's memory.
pub fn usage(j: &mut Json, u: &Usage, per: u64, unit: &str) {
    let per_unit = |cpu: Option<f64>| cpu.filter(|_| per > 0).map(|c| c * 1e6 / per as f64);
    let mut broker = Json::default();
    broker
        .opt_int("pid", u.broker_pid.map(u64::from))
        .opt_num("cpu_s", u.broker_cpu_s, 3)
        .opt_num(&format!("cpu_us_per_{unit}"), per_unit(u.broker_cpu_s), 3)
        .opt_int("rss_kib", u.broker_rss_kib)
        .opt_int("rss_peak_kib", u.broker_rss_peak_kib)
        .opt_int("vm_hwm_kib", u.broker_hwm_kib);
    let mut tool = Json::default();
    tool.opt_num("cpu_s", u.own_cpu_s, 3)
        .opt_num(&format!("cpu_us_per_{unit}"), per_unit(u.own_cpu_s), 3)
        .int("clock_ticks_per_s", crate::procfs::clock_ticks_per_second());
    j.object("broker", broker).object("tool", tool);
}

/// The report of a message scenario and whether every check passed.
pub fn message_run(o: &Options, params: Json, r: &RunOutcome) -> (String, bool) {
    let v = &r.verdict;
    let mut failures = Vec::new();
    let mut check = |n: u64, what: &str| {
        if n > 0 {
            failures.push(format!("{n} {what}"));
        }
    };
    check(v.lost, "lost");
    check(v.duplicated, "duplicated");
    check(v.reordered, "reordered");
    check(v.unexpected, "unexpected");
    check(v.misrouted, "misrouted");
    check(r.unconfirmed, "unconfirmed");
    check(r.nacked, "nacked");
    let retained: u64 = r.retained.iter().map(|q| q.found).sum();
    let retained_expected: u64 = r.retained.iter().map(|q| q.expected).sum();
    if r.retained.iter().any(|q| q.found != q.expected) {
        failures.push(format!(
            "the queues nobody consumes hold {retained} messages, {retained_expected} were routed to them"
        ));
    }
    if r.published == 0 {
        failures.push("nothing published".to_owned());
    }
    let ok = failures.is_empty();

    let mut j = header(o);
    j.object("params", params);
    let publish_s = r.publish_time.as_secs_f64();
    let deliver_s = r.deliver_time.as_secs_f64();
    j.num("publish_s", publish_s, 3)
        .num("deliver_s", deliver_s, 3)
        .int("connections", r.connections as u64)
        .int("published", r.published)
        .opt_int("confirmed", r.confirmed)
        .int("delivered", v.delivered)
        .int("expected", v.expected)
        .num("publish_rate", rate(r.published, publish_s), 0)
        .num("deliver_rate", rate(v.delivered, deliver_s), 0);
    let l = &r.latency;
    let us = |ns: u64| ns as f64 / 1000.0;
    let mut latency = Json::default();
    latency
        .int("samples", l.count())
        .num("p50", us(l.quantile(0.50)), 1)
        .num("p99", us(l.quantile(0.99)), 1)
        .num("p999", us(l.quantile(0.999)), 1)
        .num("max", us(l.max()), 1);
    j.object("latency_us", latency)
        .int("lost", v.lost)
        .int("duplicated", v.duplicated)
        .int("reordered", v.reordered)
        .int("unexpected", v.unexpected)
        .int("misrouted", v.misrouted)
        .int("unconfirmed", r.unconfirmed)
        .int("nacked", r.nacked);
    if !r.retained.is_empty() {
        let (before, after) = (r.rss_before_kib, r.rss_after_kib);
        j.int("retained", retained)
            .int("retained_expected", retained_expected)
            .opt_int("rss_before_kib", before)
            .opt_int("rss_after_kib", after)
            .opt_num("bytes_per_retained", bytes_each(before, after, retained), 1);
    }
    usage(&mut j, &r.usage, v.delivered, "msg");
    j.bool("ok", ok).strings("failures", &failures);
    (j.finish(), ok)
}

/// The parameters shared by the message scenarios.
pub fn message_params(o: &Options) -> Json {
    let mut p = Json::default();
    p.int("publishers", o.publishers as u64)
        .int("size", o.size as u64)
        .num("duration_s", o.duration.as_secs_f64(), 3)
        .int("max_messages", o.max_messages)
        .opt_int("rate", o.rate)
        .opt_int("confirm_window", o.confirm.map(u64::from))
        .bool("autoack", o.autoack)
        .opt_int("prefetch", (!o.autoack).then_some(u64::from(o.prefetch)))
        .int("batch", o.batch as u64)
        .num("drain_timeout_s", o.drain_timeout.as_secs_f64(), 3);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_json() {
        let mut inner = Json::default();
        inner.int("n", 3).num("x", 1.23456, 2).opt_int("none", None);
        let mut j = Json::default();
        j.str("s", "a\"b\\c\nd\u{1}")
            .bool("ok", true)
            .num("nan", f64::NAN, 1)
            .strings("list", &["x".to_owned(), "y".to_owned()])
            .object("inner", inner);
        assert_eq!(
            j.finish(),
            r#"{"s":"a\"b\\c\nd\u0001","ok":true,"nan":null,"list":["x","y"],"inner":{"n":3,"x":1.23,"none":null}}"#
        );
    }
}
