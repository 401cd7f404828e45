//! export_definitions and import_definitions: `GET` and `POST /api/definitions`.

use std::io::Read;
use std::path::Path;

use serde_json::Value as Json;

use super::failure::{Failure, DATA, SOFTWARE};
use super::output::print;
use super::Context;

pub fn export_definitions(ctx: &Context, file: &str) -> Result<(), Failure> {
    let to_stdout = file == "-";
    if !to_stdout {
        let directory = Path::new(file)
            .parent()
            .filter(|d| !d.as_os_str().is_empty());
        if let Some(directory) = directory.filter(|d| !d.is_dir()) {
            return Err(Failure::new(
                DATA,
                format!(
                    "Error (argument validation): Bad argument: Directory {} does not exist",
                    directory.display()
                ),
            ));
        }
        print(&ctx.out.banner(&[format!(
            "Exporting definitions in JSON to a file at \"{file}\" ..."
        )]));
    }
    let definitions = ctx
        .api
        .get("/api/definitions")?
        .expect_success(SOFTWARE)?
        .json();
    // As rabbitmqctl writes them: compact, keys in order (serde_json's map is sorted).
    let text = as_rabbitmqctl_exports(definitions).to_string();
    if to_stdout {
        print(&text);
        return Ok(());
    }
    std::fs::write(file, text)
        .map_err(|e| Failure::error(SOFTWARE, format!("cannot write {file}: {e}")))
}

/// The API's export as rabbitmqctl's: no product fields, no cluster id, each queue's type.
fn as_rabbitmqctl_exports(mut definitions: Json) -> Json {
    if let Some(top) = definitions.as_object_mut() {
        top.remove("product_name");
        top.remove("product_version");
        if let Some(Json::Array(parameters)) = top.get_mut("global_parameters") {
            parameters
                .retain(|p| p.get("name").and_then(Json::as_str) != Some("internal_cluster_id"));
        }
    }
    let queues = definitions.get_mut("queues").and_then(Json::as_array_mut);
    for queue in queues.into_iter().flatten() {
        let kind = queue
            .pointer("/arguments/x-queue-type")
            .and_then(Json::as_str)
            .unwrap_or("classic")
            .to_string();
        if let Some(fields) = queue.as_object_mut() {
            fields.entry("type").or_insert(Json::String(kind));
        }
    }
    definitions
}

pub fn import_definitions(ctx: &Context, file: &str) -> Result<(), Failure> {
    let (text, banner) = if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::error(DATA, format!("cannot read standard input: {e}")))?;
        (
            text,
            "Importing definitions in JSON from standard input ...".to_string(),
        )
    } else {
        if !Path::new(file).is_file() {
            return Err(Failure::new(
                DATA,
                format!("Error (argument validation): Bad argument: File {file} does not exist"),
            ));
        }
        let text = std::fs::read_to_string(file)
            .map_err(|e| Failure::error(DATA, format!("cannot read {file}: {e}")))?;
        (
            text,
            format!("Importing definitions in JSON from a file at \"{file}\" ..."),
        )
    };
    print(&ctx.out.banner(&[banner]));
    if let Err(e) = serde_json::from_str::<Json>(&text) {
        return Err(Failure::error(
            DATA,
            format!("Failed to deserialise input (format: JSON) (error: {e})"),
        ));
    }
    let reply = ctx.api.post("/api/definitions", text)?;
    if !reply.is_success() {
        return Err(Failure::error(
            DATA,
            format!("Failed to import definitions: {}", reply.reason()),
        ));
    }
    print("Successfully started definition import. This process is asynchronous and can take some time.\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_export_is_written_as_rabbitmqctl_writes_it() {
        let api = json!({"product_name": "RabbitMQ", "product_version": "3.10.8",
            "rabbit_version": "3.10.8",
            "global_parameters": [{"name": "internal_cluster_id", "value": "x"}],
            "queues": [{"name": "q", "arguments": {}}, {"name": "s", "arguments": {"x-queue-type": "stream"}}]});
        assert_eq!(
            as_rabbitmqctl_exports(api).to_string(),
            r#"{"global_parameters":[],"queues":[{"arguments":{},"name":"q","type":"classic"},{"arguments":{"x-queue-type":"stream"},"name":"s","type":"stream"}],"rabbit_version":"3.10.8"}"#
        );
    }
}
