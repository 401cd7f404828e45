//! What RabbitMQ's management does to every list it answers: `sort` (a field, dotted for
//! nested ones) and `sort_reverse`, `columns` (only these fields, dotted for nested ones),
//! and, with `page`, the filter `name` (`use_regex`) and a page of `page_size` in an envelope
//! that counts what there was (`total_count`), what passed the filter (`filtered_count`) and
//! what this page holds (`item_count`).
//!
//! A list of [`Row`]s (`answer_rows`) is serialized straight into the answer when no more is
//! asked than a sort by name, top-level columns and a page: the whole list, a page, a few
//! columns. Anything else goes through `Value`s.

use std::cmp::Ordering;

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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

/// An item of a list that serializes itself, and can keep only some of its top-level fields.
pub trait Row<'a>: Serialize {
    /// What `sort=name` sorts by.
    fn name(&self) -> &[u8];
    /// Serialize only these fields.
    fn only(&mut self, columns: &'a [&'a str]);
}

/// RabbitMQ's paged envelope.
#[derive(Serialize)]
struct Page<T> {
    filtered_count: u64,
    item_count: usize,
    items: T,
    page: u64,
    page_count: u64,
    page_size: u64,
    total_count: usize,
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
        let (start, size, page_count) = page_range(page, page_size, items.len())?;
        let items: Vec<Value> = items.into_iter().skip(start).take(size).collect();
        let answer = Page {
            filtered_count,
            item_count: items.len(),
            items: self.cut(items),
            page,
            page_count,
            page_size,
            total_count,
        };
        Ok(Json(serde_json::to_value(answer).unwrap_or_default()))
    }

    /// The columns asked for, for [`ListQuery::answer_rows`].
    pub fn columns(&self) -> Vec<&str> {
        match self.columns.as_deref().filter(|c| !c.is_empty()) {
            Some(columns) => columns.split(',').map(str::trim).collect(),
            None => Vec::new(),
        }
    }

    /// What [`ListQuery::answer`] answers for these rows (`columns` is
    /// [`ListQuery::columns`]), without building them as `Value`s when it need not.
    pub fn answer_rows<'a, R: Row<'a>>(
        &self,
        mut rows: Vec<R>,
        columns: &'a [&'a str],
    ) -> ApiResult<Response> {
        let sort = self.sort.as_deref().filter(|f| !f.is_empty());
        let filter = self.page.is_some() && self.name.as_deref().is_some_and(|f| !f.is_empty());
        let straight = sort.map_or(true, |field| field == "name")
            && !filter
            && columns.iter().all(|column| !column.contains('.'));
        if !straight {
            let items = rows
                .iter()
                .map(|row| serde_json::to_value(row).unwrap_or_default())
                .collect();
            return self.answer(items).map(IntoResponse::into_response);
        }
        if sort.is_some() {
            rows.sort_by(|a, b| a.name().cmp(b.name()));
        }
        if self.sort_reverse.as_deref() == Some("true") {
            rows.reverse();
        }
        if !columns.is_empty() {
            rows.iter_mut().for_each(|row| row.only(columns));
        }
        let Some(page) = &self.page else {
            return Ok(Json(rows).into_response());
        };
        let (page, page_size) = self.pagination(page)?;
        let total_count = rows.len();
        let (start, size, page_count) = page_range(page, page_size, total_count)?;
        let items = &rows[start.min(total_count)..start.saturating_add(size).min(total_count)];
        Ok(Json(Page {
            filtered_count: total_count as u64,
            item_count: items.len(),
            items,
            page,
            page_count,
            page_size,
            total_count,
        })
        .into_response())
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

/// Where a page starts among `filtered` items, how many it takes, and the page count:
/// RabbitMQ's 400 for a page past the last (an empty first page is an answer).
fn page_range(page: u64, page_size: u64, filtered: usize) -> ApiResult<(usize, usize, u64)> {
    let filtered_count = filtered as u64;
    let page_count = filtered_count.div_ceil(page_size);
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
    Ok((start, size, page_count))
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
    use serde_json::json;

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

    /// A row over one of `items()`, serialized by hand as the queues' rows are.
    struct Item<'a>(&'a Value, Option<&'a [&'a str]>);

    impl Serialize for Item<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = serializer.serialize_map(None)?;
            for (field, value) in self.0.as_object().expect("an object") {
                if self.1.map_or(true, |c| c.contains(&field.as_str())) {
                    map.serialize_entry(field, value)?;
                }
            }
            map.end()
        }
    }

    impl<'a> Row<'a> for Item<'a> {
        fn name(&self) -> &[u8] {
            self.0["name"].as_str().expect("a name").as_bytes()
        }

        fn only(&mut self, columns: &'a [&'a str]) {
            self.1 = Some(columns);
        }
    }

    #[tokio::test]
    async fn rows_answer_what_values_answer() {
        let items = items();
        for text in [
            "",
            "sort=name&sort_reverse=true",
            "columns=name,messages",
            "page=2&page_size=2&sort=name",
            "page=1&columns=messages",
            "sort=messages&page=1&page_size=3",
            "columns=name,x.y",
            "page=1&name=q[12]&use_regex=true",
            "page=4&page_size=2",
            "page=1&page_size=0",
        ] {
            let query = query(text);
            let columns = query.columns();
            let rows = items.iter().map(|item| Item(item, None)).collect();
            let straight = match query.answer_rows(rows, &columns) {
                Ok(response) => {
                    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await;
                    Ok(serde_json::from_slice::<Value>(&body.expect("a body")).expect("JSON"))
                }
                Err(error) => Err(error.reason),
            };
            let through_values = query
                .answer(items.clone())
                .map(|Json(answer)| answer)
                .map_err(|error| error.reason);
            assert_eq!(straight, through_values, "{text}");
        }
    }
}
