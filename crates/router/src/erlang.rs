//! Field values as RabbitMQ sees them: the Erlang terms that `rabbit_binary_parser:parse_table/1`
//! (rabbit_common, 3.x) decodes a table into, Erlang's `==` on them, and their `~tp` text.
//!
//! This is a model, not a fast path: the reference headers matcher compares through it, and bind
//! errors quote values the way RabbitMQ's messages do. It allocates freely.
//!
//! Decoding, per `rabbit_binary_parser`:
//! a table is a list of `{Name, Type, Value}`, an array a list of `{Type, Value}`; integer types
//! decode to integers (the timestamp too), `f`/`d` to floats (`f` widened to a double), `t` to the
//! atoms `true`/`false`, `S` and `x` both to binaries, `D` to `{Scale, Value}`, `V` to `undefined`.

use std::fmt;

use warren_wire::FieldValue;

/// Erlang's `Int == Float`: exact (Erlang converts whichever side loses no precision), so
/// `9007199254740993 == 9007199254740992.0` is false. Field integers fit in 65 bits, far below
/// the 2^100 guard that keeps the cast from saturating.
pub(crate) fn int_equals_float(i: i128, f: f64) -> bool {
    f.fract() == 0.0 && f.abs() < 2f64.powi(100) && f as i128 == i
}

/// An Erlang term, as far as decoded field values need.
#[derive(Debug, Clone)]
pub(crate) enum Term<'a> {
    Int(i128),
    Float(f64),
    Atom(&'static str),
    Binary(&'a [u8]),
    Tuple(Vec<Term<'a>>),
    List(Vec<Term<'a>>),
}

impl<'a> Term<'a> {
    /// The `Value` part of a decoded `{Type, Value}`.
    pub(crate) fn of(value: &'a FieldValue) -> Term<'a> {
        match value {
            FieldValue::Bool(b) => Term::Atom(if *b { "true" } else { "false" }),
            FieldValue::I8(v) => Term::Int((*v).into()),
            FieldValue::U8(v) => Term::Int((*v).into()),
            FieldValue::I16(v) => Term::Int((*v).into()),
            FieldValue::U16(v) => Term::Int((*v).into()),
            FieldValue::I32(v) => Term::Int((*v).into()),
            FieldValue::U32(v) => Term::Int((*v).into()),
            FieldValue::I64(v) => Term::Int((*v).into()),
            FieldValue::Timestamp(v) => Term::Int((*v).into()),
            FieldValue::F32(v) => Term::Float((*v).into()),
            FieldValue::F64(v) => Term::Float(*v),
            FieldValue::Decimal { scale, value } => {
                Term::Tuple(vec![Term::Int((*scale).into()), Term::Int((*value).into())])
            }
            FieldValue::LongStr(b) | FieldValue::Bytes(b) => Term::Binary(b),
            FieldValue::Void => Term::Atom("undefined"),
            FieldValue::Array(items) => Term::List(
                items
                    .iter()
                    .map(|v| Term::Tuple(vec![Term::Atom(v.type_name()), Term::of(v)]))
                    .collect(),
            ),
            FieldValue::Table(table) => Term::List(
                table
                    .iter()
                    .map(|(k, v)| {
                        Term::Tuple(vec![
                            Term::Binary(k.as_bytes()),
                            Term::Atom(v.type_name()),
                            Term::of(v),
                        ])
                    })
                    .collect(),
            ),
        }
    }
}

/// Erlang's `==`: numbers compare by value whatever their kind (`1 == 1.0`), everything else
/// structurally.
impl PartialEq for Term<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Term::Int(a), Term::Int(b)) => a == b,
            (Term::Float(a), Term::Float(b)) => a == b,
            (Term::Int(i), Term::Float(f)) | (Term::Float(f), Term::Int(i)) => {
                int_equals_float(*i, *f)
            }
            (Term::Atom(a), Term::Atom(b)) => a == b,
            (Term::Binary(a), Term::Binary(b)) => a == b,
            (Term::Tuple(a), Term::Tuple(b)) | (Term::List(a), Term::List(b)) => a == b,
            _ => false,
        }
    }
}

/// `io_lib:format("~tp", [Term])` on one line. Binaries print as `<<"text">>` when every byte is
/// printable ASCII (or one of io_lib's printable escapes), otherwise as `<<1,2,3>>`; RabbitMQ may
/// instead print non-ASCII UTF-8 as `<<"…"/utf8>>`. Floats use Rust's shortest round-trip digits
/// with Erlang's `.0`/`e` shape; Erlang may pick the exponent form at other magnitudes.
impl fmt::Display for Term<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Int(i) => write!(f, "{i}"),
            Term::Float(x) => write_float(f, *x),
            Term::Atom(a) => f.write_str(a),
            Term::Binary(b) => write_binary(f, b),
            Term::Tuple(items) => write_seq(f, '{', items, '}'),
            Term::List(items) => write_seq(f, '[', items, ']'),
        }
    }
}

fn write_seq(
    f: &mut fmt::Formatter<'_>,
    open: char,
    items: &[Term<'_>],
    close: char,
) -> fmt::Result {
    write!(f, "{open}")?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{item}")?;
    }
    write!(f, "{close}")
}

fn write_float(f: &mut fmt::Formatter<'_>, x: f64) -> fmt::Result {
    let text = format!("{x:?}");
    match text.split_once('e') {
        Some((mantissa, exponent)) if !mantissa.contains('.') => {
            write!(f, "{mantissa}.0e{exponent}")
        }
        _ => f.write_str(&text),
    }
}

fn write_binary(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    fn escape(b: u8) -> Option<&'static str> {
        Some(match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x0b => "\\v",
            0x08 => "\\b",
            0x0c => "\\f",
            0x1b => "\\e",
            _ => return None,
        })
    }
    if !bytes.is_empty()
        && bytes
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) || escape(b).is_some())
    {
        f.write_str("<<\"")?;
        for &b in bytes {
            match escape(b) {
                Some(e) => f.write_str(e)?,
                None => write!(f, "{}", char::from(b))?,
            }
        }
        f.write_str("\">>")
    } else {
        f.write_str("<<")?;
        for (i, b) in bytes.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{b}")?;
        }
        f.write_str(">>")
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use warren_wire::{FieldTable, FieldValue};

    use super::Term;

    fn text(v: &FieldValue) -> String {
        Term::of(v).to_string()
    }

    #[test]
    fn values_print_like_erlang_tp() {
        assert_eq!(
            text(&FieldValue::LongStr(Bytes::from_static(b"all"))),
            r#"<<"all">>"#
        );
        assert_eq!(text(&FieldValue::LongStr(Bytes::new())), "<<>>");
        assert_eq!(
            text(&FieldValue::Bytes(Bytes::from_static(b"a\"b\n"))),
            r#"<<"a\"b\n">>"#
        );
        assert_eq!(
            text(&FieldValue::Bytes(Bytes::from_static(&[0, 200]))),
            "<<0,200>>"
        );
        assert_eq!(text(&FieldValue::Bool(true)), "true");
        assert_eq!(text(&FieldValue::I32(-5)), "-5");
        assert_eq!(text(&FieldValue::F64(1.5)), "1.5");
        assert_eq!(text(&FieldValue::F64(1e21)), "1.0e21");
        assert_eq!(
            text(&FieldValue::Decimal {
                scale: 2,
                value: 150
            }),
            "{2,150}"
        );
        assert_eq!(text(&FieldValue::Void), "undefined");
        let mut table = FieldTable::new();
        table.insert("k", FieldValue::U8(1));
        assert_eq!(
            text(&FieldValue::Table(table)),
            r#"[{<<"k">>,unsignedbyte,1}]"#
        );
        assert_eq!(
            text(&FieldValue::Array(vec![FieldValue::I64(7)])),
            "[{long,7}]"
        );
    }

    #[test]
    fn erlang_equality_compares_numbers_by_value() {
        let eq = |a: FieldValue, b: FieldValue| Term::of(&a) == Term::of(&b);
        assert!(eq(FieldValue::I8(1), FieldValue::I64(1)));
        assert!(eq(FieldValue::U32(1), FieldValue::F64(1.0)));
        assert!(eq(FieldValue::Timestamp(5), FieldValue::I16(5)));
        assert!(!eq(FieldValue::I8(1), FieldValue::F64(1.5)));
        assert!(!eq(
            FieldValue::I64(i64::MAX),
            FieldValue::F64(i64::MAX as f64)
        ));
        assert!(!eq(FieldValue::Bool(true), FieldValue::I8(1)));
        assert!(eq(
            FieldValue::LongStr(Bytes::from_static(b"x")),
            FieldValue::Bytes(Bytes::from_static(b"x"))
        ));
        // Inside arrays the type atoms are compared too.
        assert!(!eq(
            FieldValue::Array(vec![FieldValue::I8(1)]),
            FieldValue::Array(vec![FieldValue::I64(1)])
        ));
        // An empty table and an empty array are both `[]`.
        assert!(eq(
            FieldValue::Table(FieldTable::new()),
            FieldValue::Array(vec![])
        ));
    }
}
