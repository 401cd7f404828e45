//! Checks the method table (and the basic class's property list) against the vendored XML,
//! read with a line scanner: the XML has one element per line.
#![allow(clippy::unwrap_used)]

use super::SPEC_TABLE;

/// One row of the method table, as data.
pub(crate) struct MethodSpec {
    pub class_id: u16,
    pub class: &'static str,
    pub method_id: u16,
    pub method: &'static str,
    pub content: bool,
    pub fields: &'static [(&'static str, &'static str)],
}

const XML: &str = include_str!("../../spec/amqp0-9-1.stripped.extended.xml");

/// RabbitMQ's methods that the XML does not list.
const EXTENSIONS: &[(u16, u16)] = &[(10, 60), (10, 61), (10, 70), (10, 71)];

fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

#[derive(Debug, PartialEq)]
struct XmlMethod {
    class_id: u16,
    class: String,
    method_id: u16,
    method: String,
    content: bool,
    fields: Vec<(String, String)>,
}

/// The methods of the XML, and the basic class's property fields, with domains resolved to
/// types and field names as the Rust structs spell them.
fn parse_xml() -> (Vec<XmlMethod>, Vec<(String, String)>) {
    let mut domains = std::collections::HashMap::new();
    let mut methods: Vec<XmlMethod> = Vec::new();
    let mut properties = Vec::new();
    let (mut class, mut class_id, mut in_method) = (String::new(), 0, false);
    for line in XML.lines().map(str::trim) {
        if line.starts_with("<domain ") {
            domains.insert(attr(line, "name").unwrap(), attr(line, "type").unwrap());
        } else if line.starts_with("<class ") {
            class = attr(line, "name").unwrap().to_owned();
            class_id = attr(line, "index").unwrap().parse().unwrap();
        } else if line.starts_with("<method ") {
            methods.push(XmlMethod {
                class_id,
                class: class.clone(),
                method_id: attr(line, "index").unwrap().parse().unwrap(),
                method: attr(line, "name").unwrap().to_owned(),
                content: attr(line, "content") == Some("1"),
                fields: Vec::new(),
            });
            in_method = !line.ends_with("/>");
        } else if line.starts_with("</method>") {
            in_method = false;
        } else if line.starts_with("<field ") {
            let ty = match attr(line, "type") {
                Some(ty) => ty,
                None => domains[attr(line, "domain").unwrap()],
            };
            let name = match attr(line, "name").unwrap() {
                "type" => "kind".to_owned(),
                "nowait" => "no_wait".to_owned(),
                "reserved" => "cluster_id".to_owned(),
                name => name.replace('-', "_"),
            };
            let field = (name, ty.to_owned());
            if in_method {
                methods.last_mut().unwrap().fields.push(field);
            } else if class == "basic" {
                properties.push(field);
            }
        }
    }
    (methods, properties)
}

#[test]
fn spec_table_matches_xml() {
    let (mut xml, _) = parse_xml();
    let mut table: Vec<XmlMethod> = SPEC_TABLE
        .iter()
        .filter(|m| !EXTENSIONS.contains(&(m.class_id, m.method_id)))
        .map(|m| XmlMethod {
            class_id: m.class_id,
            class: m.class.to_owned(),
            method_id: m.method_id,
            method: m.method.to_owned(),
            content: m.content,
            fields: m
                .fields
                .iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
                .collect(),
        })
        .collect();
    xml.sort_by_key(|m| (m.class_id, m.method_id));
    table.sort_by_key(|m| (m.class_id, m.method_id));
    assert_eq!(xml.len(), table.len());
    for (x, t) in xml.iter().zip(&table) {
        assert_eq!(x, t);
    }
}

#[test]
fn property_list_matches_xml() {
    let (_, xml) = parse_xml();
    let names: Vec<String> = crate::properties::PROPERTY_NAMES
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
    let xml_names: Vec<String> = xml.into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, xml_names);
}
