//! list_exchanges and list_bindings: `/api/exchanges/{vhost}`, `/api/bindings/{vhost}`.

use super::columns::{self, column, Column, Get};
use super::failure::Failure;
use super::http::segment;
use super::output::print;
use super::value::Value;
use super::Context;

const EXCHANGE_COLUMNS: &[Column] = &[
    column("name", Get::Text("name")),
    column("type", Get::Text("type")),
    column("durable", Get::Flag("durable")),
    column("auto_delete", Get::Flag("auto_delete")),
    column("internal", Get::Flag("internal")),
    column("arguments", Get::Table("arguments")),
    column("policy", Get::Text("policy")),
];

const BINDING_COLUMNS: &[Column] = &[
    column("source_name", Get::Text("source")),
    // Only exchanges are sources.
    column("source_kind", Get::With(|_| Value::Text("exchange".into()))),
    column("destination_name", Get::Text("destination")),
    column("destination_kind", Get::Text("destination_type")),
    column("routing_key", Get::Text("routing_key")),
    column("arguments", Get::Table("arguments")),
];

pub fn list_exchanges(ctx: &Context, asked: &[String]) -> Result<(), Failure> {
    let chosen = columns::select(EXCHANGE_COLUMNS, asked, &["name", "type"])?;
    print(
        &ctx.out
            .banner(&[format!("Listing exchanges for vhost {} ...", ctx.vhost)]),
    );
    let exchanges = ctx
        .api
        .list(&format!("/api/exchanges/{}", segment(&ctx.vhost)))?;
    print(
        &ctx.out
            .rows(&columns::keys(&chosen), &columns::rows(&chosen, &exchanges)),
    );
    Ok(())
}

pub fn list_bindings(ctx: &Context, asked: &[String]) -> Result<(), Failure> {
    let all: Vec<&str> = BINDING_COLUMNS.iter().map(|c| c.key).collect();
    let chosen = columns::select(BINDING_COLUMNS, asked, &all)?;
    // rabbitmqctl's own spelling: no space before the dots.
    print(
        &ctx.out
            .banner(&[format!("Listing bindings for vhost {}...", ctx.vhost)]),
    );
    let bindings = ctx
        .api
        .list(&format!("/api/bindings/{}", segment(&ctx.vhost)))?;
    print(
        &ctx.out
            .rows(&columns::keys(&chosen), &columns::rows(&chosen, &bindings)),
    );
    Ok(())
}
