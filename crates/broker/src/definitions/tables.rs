//! Arguments and headers between JSON and AMQP field tables, as RabbitMQ converts them in
//! definitions files and its management API.

use serde_json::{Map, Number, Value};
use warren_wire::{FieldTable, FieldValue, ShortStr};

/// JSON arguments as RabbitMQ turns them into a field table (`rabbit_misc:to_amqp_table`):
/// strings are long strings, integers 64-bit, other numbers doubles. `what` names the object
/// in the error.
pub fn table_from_json(map: Map<String, Value>, what: &str) -> Result<FieldTable, String> {
    let mut table = FieldTable::new();
    for (key, value) in map {
        let key = ShortStr::try_from(key)
            .map_err(|_| format!("{what}: an argument name: longer than 255 bytes"))?;
        table.insert(key, field_value(value, what)?);
    }
    Ok(table)
}

fn field_value(value: Value, what: &str) -> Result<FieldValue, String> {
    Ok(match value {
        Value::Null => FieldValue::Void,
        Value::Bool(b) => FieldValue::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => FieldValue::I64(i),
            None => FieldValue::F64(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => FieldValue::LongStr(s.into_bytes().into()),
        Value::Array(items) => FieldValue::Array(
            items
                .into_iter()
                .map(|item| field_value(item, what))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => FieldValue::Table(table_from_json(map, what)?),
    })
}

/// A field table as RabbitMQ's management shows it: strings (and byte arrays) as text,
/// numbers as numbers, tables as objects, arrays as lists, void as null.
pub fn table_to_json(table: &FieldTable) -> Value {
    Value::Object(
        table
            .iter()
            .map(|(key, value)| (key.to_string(), value_to_json(value)))
            .collect(),
    )
}

fn value_to_json(value: &FieldValue) -> Value {
    match value {
        FieldValue::Bool(b) => Value::Bool(*b),
        FieldValue::F32(f) => float(f64::from(*f)),
        FieldValue::F64(f) => float(*f),
        FieldValue::Decimal { scale, value } => {
            float(f64::from(*value) / 10f64.powi(i32::from(*scale)))
        }
        FieldValue::LongStr(bytes) | FieldValue::Bytes(bytes) => {
            Value::String(String::from_utf8_lossy(bytes).into_owned())
        }
        FieldValue::Array(items) => Value::Array(items.iter().map(value_to_json).collect()),
        FieldValue::Table(table) => table_to_json(table),
        FieldValue::Void => Value::Null,
        integer => integer
            .as_i128()
            .and_then(|i| i64::try_from(i).ok())
            .map_or(Value::Null, |i| Value::Number(i.into())),
    }
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_go_there_and_back() {
        let json = serde_json::json!({"x-max-length": 100, "x-dead-letter-exchange": "dlx",
                                      "nested": {"list": [1, "two", true, null]}, "ratio": 0.5});
        let Value::Object(map) = json.clone() else {
            unreachable!()
        };
        let table = table_from_json(map, "test").expect("valid");
        assert_eq!(table_to_json(&table), json);
    }
}
