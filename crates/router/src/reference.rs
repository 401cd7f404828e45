//! Slow, obviously-correct twins of the fast matchers, written from RabbitMQ's source rather than
//! for speed. Tests (and later benches and fuzz targets) check [`crate::topic::TopicTrie`] and
//! [`crate::headers::HeadersMatcher`] against them, and the load tool (`warren-bench`) checks
//! where deliveries went with [`topic_matches`]. They allocate on every call; do not route
//! with them.

use warren_wire::{FieldTable, FieldValue};

use crate::erlang::Term;

/// Whether the topic binding key `pattern` matches the routing key `key`: a direct transcription
/// of the definition (`*` one word, `#` any number of words, the empty key zero words) as a
/// backtracking matcher. Exponential in the worst case.
pub fn topic_matches(pattern: &[u8], key: &[u8]) -> bool {
    fn split(s: &[u8]) -> Vec<&[u8]> {
        if s.is_empty() {
            Vec::new() // RabbitMQ: split_topic_key(<<>>) -> []
        } else {
            s.split(|&b| b == b'.').collect()
        }
    }
    fn go(pattern: &[&[u8]], key: &[&[u8]]) -> bool {
        match pattern.split_first() {
            None => key.is_empty(),
            Some((&b"#", rest)) => (0..=key.len()).any(|skip| go(rest, &key[skip..])),
            Some((&b"*", rest)) => !key.is_empty() && go(rest, &key[1..]),
            Some((word, rest)) => key.first() == Some(word) && go(rest, &key[1..]),
        }
    }
    go(&split(pattern), &split(key))
}

/// Whether a headers binding with these arguments matches a message with these headers
/// (`None`: no headers property): a transcription of `headers_match/2` from RabbitMQ 3.x's
/// `rabbit_exchange_type_headers.erl`. Both tables are sorted by name (stably, like
/// `lists:keysort/2`) and merged; values are compared as the Erlang terms RabbitMQ decodes, with
/// Erlang's `==`. Like RabbitMQ's matcher it does not validate `x-match`: unknown values mean
/// `all` (`parse_x_match/1`'s legacy clause).
pub fn headers_match(arguments: &FieldTable, headers: Option<&FieldTable>) -> bool {
    #[derive(PartialEq)]
    enum Kind {
        All,
        Any,
        AllWithX,
        AnyWithX,
    }
    let kind = match arguments.get(b"x-match") {
        Some(FieldValue::LongStr(s)) if &s[..] == b"any" => Kind::Any,
        Some(FieldValue::LongStr(s)) if &s[..] == b"all-with-x" => Kind::AllWithX,
        Some(FieldValue::LongStr(s)) if &s[..] == b"any-with-x" => Kind::AnyWithX,
        _ => Kind::All,
    };
    let any_kind = kind == Kind::Any || kind == Kind::AnyWithX;
    let with_x = kind == Kind::AllWithX || kind == Kind::AnyWithX;

    fn sorted(table: &FieldTable) -> Vec<(&[u8], &FieldValue)> {
        let mut entries: Vec<_> = table.iter().map(|(k, v)| (k.as_bytes(), v)).collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        entries
    }
    let pattern = sorted(arguments);
    let data = headers.map(sorted).unwrap_or_default();
    let (mut pattern, mut data) = (&pattern[..], &data[..]);
    let (mut all_match, mut any_match) = (true, false);
    loop {
        // The clauses of headers_match/5, in order.
        if !all_match && !any_kind {
            return false;
        }
        if any_match && any_kind {
            return true;
        }
        let Some(&(pk, pv)) = pattern.first() else {
            return if any_kind { any_match } else { all_match };
        };
        if pk == b"x-match" || (pk.starts_with(b"x-") && !with_x) {
            pattern = &pattern[1..];
            continue;
        }
        let Some(&(dk, dv)) = data.first() else {
            // "No more data, but still bindings, false with all"
            all_match = false;
            pattern = &[];
            continue;
        };
        if pk > dk {
            data = &data[1..];
            continue;
        }
        if pk < dk {
            all_match = false;
            pattern = &pattern[1..];
            continue;
        }
        if matches!(pv, FieldValue::Void) || Term::of(pv) == Term::of(dv) {
            any_match = true;
        } else {
            all_match = false;
        }
        pattern = &pattern[1..];
        data = &data[1..];
    }
}
