//! Values as rabbitmqctl prints them. rabbitmqctl shows Erlang terms: a binary as its text, an
//! AMQP table as `[{"key",value}]` (Erlang's `~tp` of the table without its types), a list of
//! atoms as `[a, b]`; its JSON formatter keeps each field's type (`["key","longstr","v"]`).
//! The management API gives JSON; here it becomes the term rabbitmqctl would have printed.

use std::fmt::Write;
use std::net::IpAddr;

use serde_json::Value as Json;

/// One cell: what an info key of rabbitmqctl returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A binary (names, users, states…): its text.
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// `''` or `undefined` shown as nothing (no policy, no owner).
    Empty,
    /// An AMQP field table (arguments, client properties).
    Table(Vec<(String, Field)>),
    /// A list of atoms (user tags).
    Atoms(Vec<String>),
    /// An address (peer_host, host): a tuple rabbitmqctl prints as text.
    Ip(IpAddr),
    /// The protocol version tuple, `{0,9,1}`.
    Version(Vec<u8>),
    /// A vhost's `cluster_state`: node atom and state.
    NodeStates(Vec<(String, String)>),
}

/// A field of an AMQP table, typed as RabbitMQ types what it decodes.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    LongStr(String),
    Long(i64),
    Double(f64),
    Bool(bool),
    Void,
    Table(Vec<(String, Field)>),
    Array(Vec<Field>),
}

impl Field {
    /// A JSON value of the management API as the field RabbitMQ holds (the API shows a table
    /// as an object, an array as an array, a long string as a string).
    pub fn from_json(json: &Json) -> Field {
        match json {
            Json::Null => Field::Void,
            Json::Bool(b) => Field::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Field::Long(i),
                None => Field::Double(n.as_f64().unwrap_or_default()),
            },
            Json::String(s) => Field::LongStr(s.clone()),
            Json::Array(items) => Field::Array(items.iter().map(Field::from_json).collect()),
            Json::Object(map) => Field::Table(table_from_map(map)),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Field::LongStr(_) => "longstr",
            Field::Long(_) => "long",
            Field::Double(_) => "double",
            Field::Bool(_) => "bool",
            Field::Void => "void",
            Field::Table(_) => "table",
            Field::Array(_) => "array",
        }
    }

    /// Erlang's `~tp` of the field without its type: strings are character lists.
    fn write_term(&self, out: &mut String) {
        match self {
            Field::LongStr(s) => write_charlist(s.chars().map(u32::from), out),
            Field::Long(i) => {
                let _ = write!(out, "{i}");
            }
            Field::Double(f) => out.push_str(&erlang_float(*f)),
            Field::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Field::Void => out.push_str("undefined"),
            Field::Table(table) => write_table_term(table, out),
            Field::Array(items) => {
                // A list of printable integers is a string to Erlang, and prints as one.
                let codes: Option<Vec<u32>> = items
                    .iter()
                    .map(|item| match item {
                        Field::Long(i) => u32::try_from(*i).ok().filter(|c| printable(*c)),
                        _ => None,
                    })
                    .collect();
                match codes {
                    Some(codes) if !codes.is_empty() => write_charlist(codes.into_iter(), out),
                    _ => write_list(items, out, |item, out| item.write_term(out)),
                }
            }
        }
    }

    /// The value in rabbitmqctl's JSON: a nested table keeps its types; an array becomes an
    /// object of type → value, as rabbitmqctl's JSON encoder turns the `{type, value}` list.
    fn write_json(&self, out: &mut String) {
        match self {
            Field::LongStr(s) => write_json_string(s, out),
            Field::Void => out.push_str("null"),
            Field::Table(table) => write_typed_table(table, out),
            Field::Array(items) => {
                out.push('{');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(item.type_name(), out);
                    out.push(':');
                    item.write_json(out);
                }
                out.push('}');
            }
            other => other.write_term(out),
        }
    }
}

/// A JSON object as an AMQP table, in key order (RabbitMQ sorts declared arguments).
pub fn table_from_map(map: &serde_json::Map<String, Json>) -> Vec<(String, Field)> {
    let mut table: Vec<(String, Field)> = map
        .iter()
        .map(|(k, v)| (k.clone(), Field::from_json(v)))
        .collect();
    table.sort_by(|a, b| a.0.cmp(&b.0));
    table
}

impl Value {
    /// The cell of the table (and csv) formatter.
    pub fn to_table_cell(&self) -> String {
        let mut out = String::new();
        match self {
            Value::Text(s) => out.push_str(s),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&erlang_float(*f)),
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Empty => {}
            Value::Table(table) => write_table_term(table, &mut out),
            Value::Atoms(atoms) => {
                let _ = write!(out, "[{}]", atoms.join(", "));
            }
            Value::Ip(ip) => {
                let _ = write!(out, "{ip}");
            }
            Value::Version(parts) => {
                out.push('{');
                write_joined(parts, ",", &mut out);
                out.push('}');
            }
            Value::NodeStates(states) => {
                out.push('[');
                for (i, (node, state)) in states.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "{{{}, {state}}}", erlang_atom(node));
                }
                out.push(']');
            }
        }
        out
    }

    /// The value in rabbitmqctl's JSON formatter.
    pub fn write_json(&self, out: &mut String) {
        match self {
            Value::Text(s) => write_json_string(s, out),
            Value::Empty => out.push_str("\"\""),
            Value::Table(table) => write_typed_table(table, out),
            Value::Atoms(atoms) => write_list(atoms, out, |a, out| write_json_string(a, out)),
            Value::Ip(IpAddr::V4(ip)) => {
                out.push('[');
                write_joined(&ip.octets(), ",", out);
                out.push(']');
            }
            Value::Ip(IpAddr::V6(ip)) => {
                out.push('[');
                write_joined(&ip.segments(), ",", out);
                out.push(']');
            }
            Value::Version(parts) => {
                out.push('[');
                write_joined(parts, ",", out);
                out.push(']');
            }
            Value::NodeStates(states) => {
                out.push('{');
                for (i, (node, state)) in states.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(node, out);
                    out.push(':');
                    write_json_string(state, out);
                }
                out.push('}');
            }
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => out.push_str(&self.to_table_cell()),
        }
    }
}

fn write_joined<T: std::fmt::Display>(items: &[T], separator: &str, out: &mut String) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        let _ = write!(out, "{item}");
    }
}

fn write_list<T>(items: &[T], out: &mut String, mut each: impl FnMut(&T, &mut String)) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(item, out);
    }
    out.push(']');
}

/// `[{"key",value},...]`
fn write_table_term(table: &[(String, Field)], out: &mut String) {
    write_list(table, out, |(key, value), out| {
        out.push('{');
        write_charlist(key.chars().map(u32::from), out);
        out.push(',');
        value.write_term(out);
        out.push('}');
    });
}

/// `[["key","type",value],...]`
fn write_typed_table(table: &[(String, Field)], out: &mut String) {
    write_list(table, out, |(key, value), out| {
        out.push('[');
        write_json_string(key, out);
        out.push(',');
        write_json_string(value.type_name(), out);
        out.push(',');
        value.write_json(out);
        out.push(']');
    });
}

pub fn write_json_string(s: &str, out: &mut String) {
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

/// Erlang's printable range for `~tp` (latin1, the default `+pc`).
fn printable(c: u32) -> bool {
    matches!(c, 32..=126 | 160..=255 | 8..=13 | 27)
}

/// A character list as `~tp` prints it: `"text"` when every character is printable,
/// `[]` when empty, the list of code points otherwise.
fn write_charlist(chars: impl Iterator<Item = u32> + Clone, out: &mut String) {
    if chars.clone().next().is_none() {
        out.push_str("[]");
        return;
    }
    if !chars.clone().all(printable) {
        let codes: Vec<u32> = chars.collect();
        out.push('[');
        write_joined(&codes, ",", out);
        out.push(']');
        return;
    }
    out.push('"');
    for c in chars.filter_map(char::from_u32) {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{1b}' => out.push_str("\\e"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// An atom as `~p` prints it: bare when it is a lowercase word (letters, digits, `_`, `@`),
/// quoted otherwise.
pub fn erlang_atom(name: &str) -> String {
    let bare = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@');
    if bare {
        name.to_string()
    } else {
        format!("'{}'", name.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// A float as Erlang prints it (`io_lib_format:fwrite_g`): the shortest digits that read back,
/// in fixed notation unless the exponent form is shorter: `1.5`, `100.0`, `1.0e3`, `0.001`.
pub fn erlang_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e3".
    let scientific = format!("{:e}", f.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp: i64 = exponent.parse().unwrap_or(0);
    let len = digits.len() as i64;
    // The value is digits × 10^place.
    let place = exp - (len - 1);
    let exp_text = exp.to_string();
    let exp_cost = exp_text.len() as i64 + 2;
    let with_exponent = || {
        let (first, rest) = digits.split_at(1);
        if rest.is_empty() {
            format!("{first}.0e{exp_text}")
        } else {
            format!("{first}.{rest}e{exp_text}")
        }
    };
    let body = if place < 0 {
        if exp >= 0 {
            let (whole, fraction) = digits.split_at((len + place) as usize);
            format!("{whole}.{fraction}")
        } else if 2 - place - len <= exp_cost {
            format!("0.{}{digits}", "0".repeat((-place - len) as usize))
        } else {
            with_exponent()
        }
    } else {
        let dot = i64::from(len == 1);
        if exp_cost + dot >= place + 2 && f.abs() < (1u64 << 53) as f64 {
            format!("{digits}{}.0", "0".repeat(place as usize))
        } else {
            with_exponent()
        }
    };
    if f < 0.0 {
        format!("-{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(json: Json) -> Value {
        match json {
            Json::Object(map) => Value::Table(table_from_map(&map)),
            _ => Value::Empty,
        }
    }

    fn json_of(value: &Value) -> String {
        let mut out = String::new();
        value.write_json(&mut out);
        out
    }

    #[test]
    fn floats_print_as_erlang_prints_them() {
        // Each pair checked with `io:format("~p", [F])` on Erlang/OTP 25.
        for (f, text) in [
            (100000.0, "1.0e5"),
            (1.5, "1.5"),
            (123.456, "123.456"),
            (0.001, "0.001"),
            (1000.0, "1.0e3"),
            (1.0e-5, "1.0e-5"),
            (12345678.9, "12345678.9"),
            (0.1, "0.1"),
            (1.0, "1.0"),
            (99999.0, "99999.0"),
            (100.0, "100.0"),
            (10.0, "10.0"),
            (1.0e20, "1.0e20"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
        ] {
            assert_eq!(erlang_float(f), text, "{f}");
        }
    }

    #[test]
    fn arguments_print_as_rabbitmqctl_prints_them() {
        // Seen from rabbitmqctl 3.10.8 list_queues name arguments, for a queue declared with
        // these arguments over HTTP.
        let value = args(json!({"x-s": "é😀", "x-q": "a\"b\\c", "x-e": "",
            "x-arr": ["a", 1, true], "x-t": {"k": "v", "n": 1.5}, "x-f": 1000.0,
            "x-neg": -3, "x-b": false}));
        assert_eq!(
            value.to_table_cell(),
            r#"[{"x-arr",["a",1,true]},{"x-b",false},{"x-e",[]},{"x-f",1.0e3},{"x-neg",-3},{"x-q","a\"b\\c"},{"x-s",[233,128512]},{"x-t",[{"k","v"},{"n",1.5}]}]"#
        );
        assert_eq!(
            json_of(&value),
            r#"[["x-arr","array",{"longstr":"a","long":1,"bool":true}],["x-b","bool",false],["x-e","longstr",""],["x-f","double",1.0e3],["x-neg","long",-3],["x-q","longstr","a\"b\\c"],["x-s","longstr","é😀"],["x-t","table",[["k","longstr","v"],["n","double",1.5]]]]"#
        );
        assert_eq!(args(json!({})).to_table_cell(), "[]");
        assert_eq!(json_of(&args(json!({}))), "[]");
        let ints = args(json!({"x": [104, 105]}));
        assert_eq!(ints.to_table_cell(), r#"[{"x","hi"}]"#, "Erlang's strings");
    }

    #[test]
    fn other_terms() {
        assert_eq!(
            Value::Atoms(vec!["a".into(), "b".into()]).to_table_cell(),
            "[a, b]"
        );
        assert_eq!(Value::Atoms(vec![]).to_table_cell(), "[]");
        assert_eq!(json_of(&Value::Atoms(vec!["a".into()])), r#"["a"]"#);
        let ip = Value::Ip("127.0.0.1".parse().expect("ip"));
        assert_eq!(
            (ip.to_table_cell(), json_of(&ip)),
            ("127.0.0.1".into(), "[127,0,0,1]".into())
        );
        let version = Value::Version(vec![0, 9, 1]);
        assert_eq!(
            (version.to_table_cell(), json_of(&version)),
            ("{0,9,1}".into(), "[0,9,1]".into())
        );
        let states = Value::NodeStates(vec![("warren-ref@localhost".into(), "running".into())]);
        assert_eq!(
            states.to_table_cell(),
            "[{'warren-ref@localhost', running}]"
        );
        assert_eq!(json_of(&states), r#"{"warren-ref@localhost":"running"}"#);
        assert_eq!(erlang_atom("warren@host"), "warren@host");
        assert_eq!(
            (Value::Empty.to_table_cell(), json_of(&Value::Empty)),
            (String::new(), "\"\"".into())
        );
    }
}
