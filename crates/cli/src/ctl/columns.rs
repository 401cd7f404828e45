//! Info keys: which columns a list verb has, and where each one's value is in the management
//! API's JSON object.

use serde_json::Value as Json;

use super::failure::Failure;
use super::value::{table_from_map, Value};

/// How a column's value is read from an object of the API.
#[derive(Clone, Copy)]
pub enum Get {
    /// A string field; null or absent is empty.
    Text(&'static str),
    /// A count; absent is 0 (RabbitMQ's API omits counts it has not sampled yet).
    Count(&'static str),
    /// A boolean; absent is false.
    Flag(&'static str),
    /// An object shown as an AMQP table.
    Table(&'static str),
    /// A value the API does not have (an Erlang pid of RabbitMQ's), shown empty.
    Nothing,
    /// Anything else.
    With(fn(&Json) -> Value),
}

#[derive(Clone, Copy)]
pub struct Column {
    pub key: &'static str,
    pub get: Get,
}

pub const fn column(key: &'static str, get: Get) -> Column {
    Column { key, get }
}

impl Get {
    pub fn read(&self, object: &Json) -> Value {
        match *self {
            Get::Text(field) => text(object.get(field)),
            Get::Count(field) => match object.get(field) {
                Some(Json::Number(n)) => match n.as_i64() {
                    Some(i) => Value::Int(i),
                    None => Value::Float(n.as_f64().unwrap_or_default()),
                },
                _ => Value::Int(0),
            },
            Get::Flag(field) => {
                Value::Bool(object.get(field).and_then(Json::as_bool).unwrap_or(false))
            }
            Get::Table(field) => match object.get(field) {
                Some(Json::Object(map)) => Value::Table(table_from_map(map)),
                _ => Value::Table(Vec::new()),
            },
            Get::Nothing => Value::Empty,
            Get::With(read) => read(object),
        }
    }
}

/// A JSON string as a cell; numbers and booleans as themselves; null, absent or "" as nothing.
pub fn text(json: Option<&Json>) -> Value {
    match json {
        Some(Json::String(s)) if !s.is_empty() => Value::Text(s.clone()),
        Some(Json::Bool(b)) => Value::Bool(*b),
        Some(Json::Number(n)) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or_default()),
        },
        _ => Value::Empty,
    }
}

/// The columns asked for (each may be a comma-separated list, as rabbitmqctl takes them), or
/// the verb's default ones; unknown keys are refused as rabbitmqctl refuses them.
pub fn select<'a>(
    all: &'a [Column],
    asked: &[String],
    default: &[&str],
) -> Result<Vec<&'a Column>, Failure> {
    let keys: Vec<&str> = asked
        .iter()
        .flat_map(|a| a.split(','))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .collect();
    let keys = if keys.is_empty() {
        default.to_vec()
    } else {
        keys
    };
    let unknown: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| !all.iter().any(|c| c.key == *k))
        .collect();
    if !unknown.is_empty() {
        let mut known: Vec<&str> = all.iter().map(|c| c.key).collect();
        known.sort_unstable();
        return Err(Failure::usage(format!(
            "Info key(s) {} are not supported\nmust be one of {}",
            unknown.join(","),
            known.join(", ")
        )));
    }
    Ok(keys
        .iter()
        .filter_map(|k| all.iter().find(|c| c.key == *k))
        .collect())
}

/// The rows of the selected columns for the API's objects.
pub fn rows(columns: &[&Column], objects: &[Json]) -> Vec<Vec<Value>> {
    objects
        .iter()
        .map(|object| columns.iter().map(|c| c.get.read(object)).collect())
        .collect()
}

pub fn keys(columns: &[&Column]) -> Vec<&'static str> {
    columns.iter().map(|c| c.key).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const COLUMNS: &[Column] = &[
        column("name", Get::Text("name")),
        column("messages", Get::Count("messages")),
        column("durable", Get::Flag("durable")),
        column("policy", Get::Text("policy")),
    ];

    #[test]
    fn columns_are_chosen_as_rabbitmqctl_takes_them() {
        let chosen = select(COLUMNS, &[], &["name", "messages"]).expect("defaults");
        assert_eq!(keys(&chosen), ["name", "messages"]);
        let chosen =
            select(COLUMNS, &["durable,name".into(), "policy".into()], &[]).expect("asked");
        assert_eq!(keys(&chosen), ["durable", "name", "policy"]);
        let Err(failure) = select(COLUMNS, &["name".into(), "bogus".into()], &[]) else {
            panic!("an unknown key is refused");
        };
        assert_eq!(failure.code, 64);
        assert!(failure
            .text
            .starts_with("Error (argument validation): Info key(s) bogus are not supported"));
    }

    #[test]
    fn absent_counts_are_zero_and_null_is_nothing() {
        let chosen = select(COLUMNS, &[], &["name", "messages", "durable", "policy"]).expect("ok");
        let rows = rows(&chosen, &[json!({"name": "q", "policy": null})]);
        assert_eq!(
            rows,
            vec![vec![
                Value::Text("q".into()),
                Value::Int(0),
                Value::Bool(false),
                Value::Empty
            ]]
        );
    }
}
