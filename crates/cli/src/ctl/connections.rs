//! list_connections, close_connection, list_consumers: `/api/connections`,
//! `/api/consumers/{vhost}`.

use serde_json::Value as Json;

use super::columns::{self, column, Column, Get};
use super::failure::{Failure, UNAVAILABLE};
use super::http::segment;
use super::output::print;
use super::value::Value;
use super::Context;

const CONNECTION_COLUMNS: &[Column] = &[
    // rabbitmqctl's pid is an Erlang process; Warren's handle on a connection is its name,
    // which close_connection takes.
    column("pid", Get::Text("name")),
    column("name", Get::Text("name")),
    column("port", Get::Count("port")),
    column("host", Get::With(|c| address(c.get("host")))),
    column("peer_port", Get::Count("peer_port")),
    column("peer_host", Get::With(|c| address(c.get("peer_host")))),
    column("ssl", Get::Flag("ssl")),
    column("ssl_protocol", Get::Text("ssl_protocol")),
    column("ssl_key_exchange", Get::Text("ssl_key_exchange")),
    column("ssl_cipher", Get::Text("ssl_cipher")),
    column("ssl_hash", Get::Text("ssl_hash")),
    column("peer_cert_subject", Get::Text("peer_cert_subject")),
    column("peer_cert_issuer", Get::Text("peer_cert_issuer")),
    column("peer_cert_validity", Get::Text("peer_cert_validity")),
    column("state", Get::Text("state")),
    column("channels", Get::Count("channels")),
    column("protocol", Get::With(protocol)),
    column("auth_mechanism", Get::Text("auth_mechanism")),
    column("user", Get::Text("user")),
    column("vhost", Get::Text("vhost")),
    column("timeout", Get::Count("timeout")),
    column("frame_max", Get::Count("frame_max")),
    column("channel_max", Get::Count("channel_max")),
    column("client_properties", Get::Table("client_properties")),
    column("recv_oct", Get::Count("recv_oct")),
    column("recv_cnt", Get::Count("recv_cnt")),
    column("send_oct", Get::Count("send_oct")),
    column("send_cnt", Get::Count("send_cnt")),
    column("send_pend", Get::Count("send_pend")),
    column("connected_at", Get::Count("connected_at")),
];

const CONSUMER_COLUMNS: &[Column] = &[
    column(
        "queue_name",
        Get::With(|c| columns::text(c.pointer("/queue/name"))),
    ),
    // rabbitmqctl's channel pid; Warren's (and the API's) name for the channel.
    column(
        "channel_pid",
        Get::With(|c| columns::text(c.pointer("/channel_details/name"))),
    ),
    column("consumer_tag", Get::Text("consumer_tag")),
    column("ack_required", Get::Flag("ack_required")),
    column("prefetch_count", Get::Count("prefetch_count")),
    column("active", Get::With(active)),
    column("activity_status", Get::With(activity_status)),
    column("arguments", Get::Table("arguments")),
];

/// An address the API gives as text: a tuple to rabbitmqctl.
fn address(json: Option<&Json>) -> Value {
    match json.and_then(Json::as_str) {
        Some(text) => text
            .parse()
            .map(Value::Ip)
            .unwrap_or_else(|_| Value::Text(text.into())),
        None => Value::Empty,
    }
}

/// "AMQP 0-9-1" → {0,9,1}.
fn protocol(connection: &Json) -> Value {
    let Some(text) = connection.get("protocol").and_then(Json::as_str) else {
        return Value::Empty;
    };
    let version = text.rsplit(' ').next().unwrap_or(text);
    let parts: Option<Vec<u8>> = version.split('-').map(|p| p.parse().ok()).collect();
    match parts {
        Some(parts) if !parts.is_empty() => Value::Version(parts),
        _ => Value::Text(text.into()),
    }
}

fn active(consumer: &Json) -> Value {
    Value::Bool(
        consumer
            .get("active")
            .and_then(Json::as_bool)
            .unwrap_or(true),
    )
}

fn activity_status(consumer: &Json) -> Value {
    match columns::text(consumer.get("activity_status")) {
        Value::Empty => Value::Text("up".into()),
        status => status,
    }
}

pub fn list_connections(ctx: &Context, asked: &[String]) -> Result<(), Failure> {
    let chosen = columns::select(
        CONNECTION_COLUMNS,
        asked,
        &["user", "peer_host", "peer_port", "state"],
    )?;
    print(&ctx.out.banner(&["Listing connections ...".to_string()]));
    let connections = ctx.api.list("/api/connections")?;
    print(&ctx.out.rows(
        &columns::keys(&chosen),
        &columns::rows(&chosen, &connections),
    ));
    Ok(())
}

pub fn list_consumers(ctx: &Context, asked: &[String]) -> Result<(), Failure> {
    let chosen = columns::select(
        CONSUMER_COLUMNS,
        asked,
        &[
            "queue_name",
            "channel_pid",
            "consumer_tag",
            "ack_required",
            "prefetch_count",
            "active",
            "arguments",
        ],
    )?;
    print(
        &ctx.out
            .banner(&[format!("Listing consumers in vhost {} ...", ctx.vhost)]),
    );
    let consumers = ctx
        .api
        .list(&format!("/api/consumers/{}", segment(&ctx.vhost)))?;
    print(
        &ctx.out
            .rows(&columns::keys(&chosen), &columns::rows(&chosen, &consumers)),
    );
    Ok(())
}

pub fn close_connection(ctx: &Context, name: &str, explanation: &str) -> Result<(), Failure> {
    print(&ctx.out.banner(&[format!(
        "Closing connection {name}, reason: {explanation}..."
    )]));
    let reply = ctx.api.delete(
        &format!("/api/connections/{}", segment(name)),
        &[("X-Reason", explanation)],
    )?;
    if reply.status == 404 {
        return Err(Failure::error(
            UNAVAILABLE,
            format!(
                "no connection named '{name}': take the name from `warren ctl list_connections name` \
                 (Warren's connections are named, where RabbitMQ's have Erlang pids)"
            ),
        ));
    }
    reply.expect_success(super::failure::SOFTWARE).map(drop)
}
