//! list_queues, purge_queue, delete_queue: `/api/queues/{vhost}[/{name}]`.

use serde_json::Value as Json;

use super::columns::{self, column, Column, Get};
use super::failure::{Failure, UNAVAILABLE, USAGE};
use super::http::segment;
use super::output::print;
use super::value::Value;
use super::Context;

/// rabbitmqctl's list_queues info keys, from the API's queue objects.
const QUEUE_COLUMNS: &[Column] = &[
    column("name", Get::Text("name")),
    column("durable", Get::Flag("durable")),
    column("auto_delete", Get::Flag("auto_delete")),
    column("arguments", Get::Table("arguments")),
    column("policy", Get::Text("policy")),
    column("pid", Get::Nothing),
    column("owner_pid", Get::With(owner)),
    column("exclusive", Get::Flag("exclusive")),
    column("exclusive_consumer_pid", Get::Nothing),
    column(
        "exclusive_consumer_tag",
        Get::Text("exclusive_consumer_tag"),
    ),
    column("messages_ready", Get::Count("messages_ready")),
    column(
        "messages_unacknowledged",
        Get::Count("messages_unacknowledged"),
    ),
    column("messages", Get::Count("messages")),
    column("messages_ready_ram", Get::Count("messages_ready_ram")),
    column(
        "messages_unacknowledged_ram",
        Get::Count("messages_unacknowledged_ram"),
    ),
    column("messages_ram", Get::Count("messages_ram")),
    column("messages_persistent", Get::Count("messages_persistent")),
    column("message_bytes", Get::Count("message_bytes")),
    column("message_bytes_ready", Get::Count("message_bytes_ready")),
    column(
        "message_bytes_unacknowledged",
        Get::Count("message_bytes_unacknowledged"),
    ),
    column("message_bytes_ram", Get::Count("message_bytes_ram")),
    column(
        "message_bytes_persistent",
        Get::Count("message_bytes_persistent"),
    ),
    column(
        "head_message_timestamp",
        Get::Text("head_message_timestamp"),
    ),
    column("disk_reads", Get::Count("disk_reads")),
    column("disk_writes", Get::Count("disk_writes")),
    column("consumers", Get::Count("consumers")),
    column("consumer_utilisation", Get::Count("consumer_utilisation")),
    column("consumer_capacity", Get::Count("consumer_capacity")),
    column("memory", Get::Count("memory")),
    column("slave_pids", Get::Nothing),
    column("synchronised_slave_pids", Get::Nothing),
    column("state", Get::With(state)),
    column("type", Get::With(queue_type)),
    column("leader", Get::Nothing),
    column("members", Get::Nothing),
    column("online", Get::Nothing),
];

/// The connection that owns an exclusive queue, by name (rabbitmqctl prints its pid).
fn owner(queue: &Json) -> Value {
    columns::text(queue.get("owner_pid_details").and_then(|d| d.get("name")))
}

/// A queue the API has not sampled yet has no state: it is running.
fn state(queue: &Json) -> Value {
    match columns::text(queue.get("state")) {
        Value::Empty => Value::Text("running".into()),
        state => state,
    }
}

fn queue_type(queue: &Json) -> Value {
    match columns::text(queue.get("type")) {
        Value::Empty => Value::Text("classic".into()),
        kind => kind,
    }
}

pub fn list_queues(ctx: &Context, asked: &[String], offline: bool) -> Result<(), Failure> {
    let chosen = columns::select(QUEUE_COLUMNS, asked, &["name", "messages"])?;
    // rabbitmqctl's list_queues is the one list that has a timeout by default, and says so.
    let timeout = ctx.timeout.unwrap_or(60);
    print(&ctx.out.banner(&[
        format!("Timeout: {timeout}.0 seconds ..."),
        format!("Listing queues for vhost {} ...", ctx.vhost),
    ]));
    // Every queue of a single node is online.
    let queues = if offline {
        Vec::new()
    } else {
        ctx.api
            .list(&format!("/api/queues/{}", segment(&ctx.vhost)))?
    };
    print(
        &ctx.out
            .rows(&columns::keys(&chosen), &columns::rows(&chosen, &queues)),
    );
    Ok(())
}

fn queue_path(ctx: &Context, name: &str) -> String {
    format!("/api/queues/{}/{}", segment(&ctx.vhost), segment(name))
}

pub fn purge_queue(ctx: &Context, name: &str) -> Result<(), Failure> {
    print(&ctx.out.banner(&[format!(
        "Purging queue '{name}' in vhost '{}' ...",
        ctx.vhost
    )]));
    let reply = ctx
        .api
        .delete(&format!("{}/contents", queue_path(ctx, name)), &[])?;
    match reply.status {
        // rabbitmqctl's words for a queue (or vhost) that is not there.
        404 => Err(Failure::error(UNAVAILABLE, "not_found")),
        _ => reply.expect_success(super::failure::SOFTWARE).map(drop),
    }
}

pub fn delete_queue(
    ctx: &Context,
    name: &str,
    if_empty: bool,
    if_unused: bool,
) -> Result<(), Failure> {
    let conditions: Vec<&str> = [
        (if_empty, "if queue is empty"),
        (if_unused, "if queue is unused"),
    ]
    .into_iter()
    .filter_map(|(on, text)| on.then_some(text))
    .collect();
    let condition = if conditions.is_empty() {
        String::new()
    } else {
        format!(" {}", conditions.join(" and "))
    };
    print(&ctx.out.banner(&[format!(
        "Deleting queue '{name}' on vhost '{}'{condition} ...",
        ctx.vhost
    )]));
    // The API's DELETE says nothing of the messages; rabbitmqctl reports the ready ones.
    let path = queue_path(ctx, name);
    let before = ctx.api.get(&path)?;
    if before.status == 404 {
        return Err(Failure::error(USAGE, "Queue not found"));
    }
    let ready = columns::Get::Count("messages_ready")
        .read(&before.expect_success(super::failure::SOFTWARE)?.json());
    let query: Vec<&str> = [(if_empty, "if-empty=true"), (if_unused, "if-unused=true")]
        .into_iter()
        .filter_map(|(on, q)| on.then_some(q))
        .collect();
    let url = if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    };
    let reply = ctx.api.delete(&url, &[])?;
    match reply.status {
        404 => return Err(Failure::error(USAGE, "Queue not found")),
        400 => {
            let reason = reply.reason();
            let text = if reason.ends_with("in use") {
                "Queue is in use"
            } else if reason.ends_with("not empty") {
                "Queue is not empty"
            } else {
                return Err(Failure::error(USAGE, reason));
            };
            return Err(Failure::error(USAGE, text));
        }
        _ => {
            reply.expect_success(super::failure::SOFTWARE)?;
        }
    }
    print(&format!(
        "Queue was successfully deleted with {} ready messages\n",
        ready.to_table_cell()
    ));
    Ok(())
}
