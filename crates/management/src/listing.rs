//! What RabbitMQ's management does to every list it answers: `sort` (a field, dotted for
//! nested ones) and `sort_reverse`, `columns` (only these fields, dotted for nested ones),
//! and, with `page`, the filter `name` (`use_regex`) and a page of `page_size` in an envelope
//! that counts what there was (`total_count`), what passed the filter (`filtered_count`) and
//! what this page holds (`item_count`).

use std::cmp::Ordering;

use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::{ApiError, ApiResult};

/// RabbitMQ's largest page.
const MAX_PAGE_SIZE: u64 = 500;
const DEFAULT_PAGE_SIZE: u64 = 100;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    page: Option<String>,
    page_size: Option<String>,
    name: Option<String>,
    use_regex: Option<String>,
    columns: Option<String>,
    sort: Option<String>,
    sort_reverse: Option<String>,
}

impl ListQuery {
    /// `items` sorted, filtered, paged and cut to the columns asked for.
    pub fn answer(&self, mut items: Vec<Value>) -> ApiResult<Json<Value>> {
        if let Some(field) = self.sort.as_deref().filter(|f| !f.is_empty()) {
            items.sort_by(|a, b| compare(lookup(a, field), lookup(b, field)));
        }
        if self.sort_reverse.as_deref() == Some("true") {
            items.reverse();
        }
        let Some(page) = &self.page else {
            return Ok(Json(Value::Array(self.cut(items))));
        };
        let (page, page_size) = self.pagination(page)?;
        let total_count = items.len();
        let items = self.filtered(items)?;
        let filtered_count = items.len() as u64;
        let page_count = filtered_count.div_ceil(page_size);
        // An empty first page is an answer; a page past the last one is not.
        if page > page_count.max(1) {
            return Err(ApiError {
                error: "page_out_of_range",
                ..ApiError::bad_request(format!(
                    "Page out of range, page: {page} page size: {page_size}, len: {filtered_count}"
                ))
            });
        }
        let start = usize::try_from((page - 1) * page_size).unwrap_or(usize::MAX);
        let size = usize::try_from(page_size).unwrap_or(usize::MAX);
        let items: Vec<Value> = items.into_iter().skip(start).take(size).collect();
        Ok(Json(json!({
            "filtered_count": filtered_count,
            "item_count": items.len(),
            "items": self.cut(items),
            "page": page,
            "page_count": page_count,
            "page_size": page_size,
            "total_count": total_count,
        })))
    }

    /// One object, cut to the columns asked for.
    pub fn one(&self, item: Value) -> Json<Value> {
        Json(self.cut(vec![item]).pop().unwrap_or(Value::Null))
    }

    fn filtered(&self, items: Vec<Value>) -> ApiResult<Vec<Value>> {
        let Some(filter) = self.name.as_deref().filter(|f| !f.is_empty()) else {
            return Ok(items);
        };
        let name_of = |item: &Value| item["name"].as_str().unwrap_or_default().to_string();
        if self.use_regex.as_deref() == Some("true") {
            let regex = regex::RegexBuilder::new(filter)
                .case_insensitive(true)
                .build()
                .map_err(|e| ApiError::bad_request(format!("invalid name regex: {e}")))?;
            return Ok(items
                .into_iter()
                .filter(|i| regex.is_match(&name_of(i)))
                .collect());
        }
        let filter = filter.to_lowercase();
        Ok(items
            .into_iter()
            .filter(|i| name_of(i).to_lowercase().contains(&filter))
            .collect())
    }

    fn cut(&self, items: Vec<Value>) -> Vec<Value> {
        let Some(columns) = self.columns.as_deref().filter(|c| !c.is_empty()) else {
            return items;
        };
        let columns: Vec<&str> = columns.split(',').map(str::trim).collect();
        items
            .into_iter()
            .map(|item| {
                let mut kept = Map::new();
                for column in &columns {
                    if let Some(value) = lookup(&item, column) {
                        insert_path(&mut kept, column, value.clone());
                    }
                }
                Value::Object(kept)
            })
            .collect()
    }
}

impl ListQuery {
    /// `page` and `page_size`, refused as RabbitMQ refuses them.
    fn pagination(&self, page: &str) -> ApiResult<(u64, u64)> {
        let number = |text: &str| {
            text.parse::<u64>()
                .map_err(|_| ApiError::bad_request("Pagination parameters are invalid"))
        };
        let page = number(page)?;
        let page_size = match &self.page_size {
            Some(size) => number(size)?,
            None => DEFAULT_PAGE_SIZE,
        };
        if page == 0 || page_size == 0 || page_size > MAX_PAGE_SIZE {
            return Err(ApiError {
                error: "invalid_pagination_parameters",
                ..ApiError::bad_request(format!(
                    "Invalid pagination parameters: page number {page}, page size {page_size}"
                ))
            });
        }
        Ok((page, page_size))
    }
}

/// The field at a dotted path (`message_stats.publish`).
fn lookup<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(item, |value, key| value.get(key))
}

fn insert_path(object: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            object.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let inner = object
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = inner {
                insert_path(inner, rest, value);
            }
        }
    }
}

/// Numbers by value, strings as text, missing fields first.
fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> ListQuery {
        axum::extract::Query::<ListQuery>::try_from_uri(
            &format!("http://x/?{text}").parse().expect("uri"),
        )
        .expect("query")
        .0
    }

    fn items() -> Vec<Value> {
        (1..=5)
            .map(|i| json!({"name": format!("q{i}"), "messages": 10 - i, "x": {"y": i}}))
            .collect()
    }

    #[test]
    fn sorted_by_a_nested_field_reversed_and_cut_to_columns() {
        let Json(answer) = query("sort=x.y&sort_reverse=true&columns=name,x.y")
            .answer(items())
            .expect("valid");
        assert_eq!(answer[0], json!({"name": "q5", "x": {"y": 5}}));
        assert_eq!(answer[4]["name"], "q1");
    }

    #[test]
    fn a_page_counts_what_there_was_and_what_passed_the_filter() {
        let Json(answer) = query("page=2&page_size=1&name=q&sort=messages")
            .answer(items())
            .expect("valid");
        assert_eq!(answer["total_count"], 5);
        assert_eq!(answer["filtered_count"], 5);
        assert_eq!(answer["page_count"], 5);
        assert_eq!(answer["items"][0]["name"], "q4");
        let Json(answer) = query("page=1&name=^q[12]$&use_regex=true")
            .answer(items())
            .expect("valid");
        assert_eq!(answer["filtered_count"], 2);
        assert!(query("page=0").answer(items()).is_err());
        assert!(query("page=1&page_size=501").answer(items()).is_err());
    }
}
