//! RabbitMQ quotes Erlang terms in its error texts; these write them as Erlang/OTP 25's
//! `io_lib:format` does: `~w` on one line, `~p` with its line breaks.

use std::fmt::Write;

/// A binary as Erlang's `~w` writes it: `<<1,2,3>>`.
///
/// Written straight into one string: the peer controls `bytes` (a whole method's arguments, up
/// to `frame_max`). A `String` per octet made the text of an undecodable 128 KiB method cost
/// 131,000 allocations and 5.6 MB at peak, 43 times the frame, for a text that `reply_text`
/// then cuts to 255 bytes. Now it is 4 allocations and 1 MB.
pub(crate) fn erlang_binary(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(4 + 4 * bytes.len());
    text.push_str("<<");
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        // Writing to a String cannot fail.
        let _ = write!(text, "{byte}");
    }
    text.push_str(">>");
    text
}

/// An Erlang term of the shapes that RabbitMQ's frame errors quote.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ErlangTerm<'a> {
    Atom(&'a str),
    Tuple(&'a str, &'a [u32]),
}

/// Where Erlang's `~p` breaks a line (`io_lib_pretty` with its 80-column default), found by
/// comparing with Erlang/OTP 25 output: a term stays on one line when it ends by column `last`;
/// else its elements fill lines, each ending by `mid` (`last` for the final one), and the
/// continuation lines are indented under the first element.
struct Wrap {
    mid: usize,
    last: usize,
}

const BINARY_WRAP: Wrap = Wrap { mid: 79, last: 81 };
const TUPLE_WRAP: Wrap = Wrap { mid: 77, last: 78 };

fn column(text: &str) -> usize {
    let line_start = text.rfind('\n').map_or(0, |at| at + 1);
    text.get(line_start..)
        .map_or(0, |line| line.chars().count())
}

fn pretty_seq(text: &mut String, open: &str, items: &[String], close: &str, wrap: &Wrap) {
    let start = column(text);
    let flat = format!("{open}{}{close}", items.join(","));
    if start + flat.len() <= wrap.last {
        text.push_str(&flat);
        return;
    }
    let indent = start + open.len();
    text.push_str(open);
    let mut col = indent;
    for (i, item) in items.iter().enumerate() {
        let last = i + 1 == items.len();
        let (end, limit) = if last {
            (close, wrap.last)
        } else {
            (",", wrap.mid)
        };
        let len = item.len() + end.len();
        if i > 0 && col + len > limit {
            text.push('\n');
            text.push_str(&" ".repeat(indent));
            col = indent;
        }
        text.push_str(item);
        text.push_str(end);
        col += len;
    }
}

/// A binary as `~p` prints it: `<<"text">>` when every octet is printable Latin-1 (octets
/// 160-255 become the Latin-1 characters, which RabbitMQ sends as single octets), else
/// `<<1,2,3>>`.
pub(crate) fn pretty_binary(text: &mut String, bytes: &[u8]) {
    let printable = |b: &u8| matches!(b, 8..=13 | 27 | 32..=126 | 160..=255);
    if bytes.is_empty() || !bytes.iter().all(printable) {
        let items: Vec<String> = bytes.iter().map(u8::to_string).collect();
        return pretty_seq(text, "<<", &items, ">>", &BINARY_WRAP);
    }
    text.push_str("<<\"");
    for &b in bytes {
        match b {
            8 => text.push_str("\\b"),
            9 => text.push_str("\\t"),
            10 => text.push_str("\\n"),
            11 => text.push_str("\\v"),
            12 => text.push_str("\\f"),
            13 => text.push_str("\\r"),
            27 => text.push_str("\\e"),
            b'"' => text.push_str("\\\""),
            b'\\' => text.push_str("\\\\"),
            _ => text.push(char::from(b)),
        }
    }
    text.push_str("\">>");
}

pub(crate) fn pretty_term(text: &mut String, term: ErlangTerm<'_>) {
    match term {
        ErlangTerm::Atom(atom) => text.push_str(atom),
        ErlangTerm::Tuple(tag, values) => {
            let items: Vec<String> = std::iter::once(tag.to_owned())
                .chain(values.iter().map(u32::to_string))
                .collect();
            pretty_seq(text, "{", &items, "}", &TUPLE_WRAP);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::frame_error;
    use crate::reply_code;

    fn reason(text: &str) -> (String, Vec<u32>) {
        let inner = text.trim_start_matches('{').trim_end_matches('}');
        let mut parts = inner.split(',');
        let tag = parts.next().unwrap_or_default().to_owned();
        (tag, parts.map(|p| p.parse().unwrap_or(u32::MAX)).collect())
    }

    /// Texts printed by Erlang/OTP 25 for RabbitMQ's frame-error format, line breaks included.
    #[test]
    fn binaries_are_written_as_erlang_writes_them() {
        assert_eq!(erlang_binary(&[]), "<<>>");
        assert_eq!(erlang_binary(&[7]), "<<7>>");
        assert_eq!(erlang_binary(&[0, 10, 255]), "<<0,10,255>>");
    }

    /// Regression: the text of an undecodable 128 KiB method once took a `String` per octet.
    /// It is now written into one buffer, sized up front, that is never outgrown.
    #[test]
    fn a_long_binary_is_written_into_one_buffer() {
        let bytes = vec![255u8; 131_064];
        let text = erlang_binary(&bytes);
        assert_eq!(text.len(), 2 + 4 * bytes.len() - 1 + 2);
        assert!(text.capacity() <= 4 + 4 * bytes.len());
        assert!(text.starts_with("<<255,255,") && text.ends_with(",255>>"));
    }

    #[test]
    fn frame_error_texts_match_erlang() {
        let vectors = include_str!("../../testdata/frame_error_texts.tsv");
        let mut count = 0;
        for line in vectors.lines().filter(|l| !l.starts_with('#')) {
            let cols: Vec<&str> = line.split('\t').collect();
            let [kind, hex, term, want] = cols[..] else {
                panic!("bad vector line {line:?}");
            };
            let payload: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or_default())
                .collect();
            let want = want
                .replace("\\\\", "\u{0}")
                .replace("\\n", "\n")
                .replace('\u{0}', "\\");
            let (tag, values) = reason(term);
            let term = if values.is_empty() {
                ErlangTerm::Atom(&tag)
            } else {
                ErlangTerm::Tuple(&tag, &values)
            };
            let kind = kind.parse().unwrap_or_default();
            let got = frame_error(kind, &payload, term);
            assert_eq!(got.text, want, "vector {line:?}");
            assert_eq!(got.reply_code, reply_code::FRAME_ERROR);
            count += 1;
        }
        assert_eq!(count, 300);
    }
}
