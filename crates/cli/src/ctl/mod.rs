//! `warren ctl`: rabbitmqctl's verbs, as RabbitMQ users type them, against a running broker's
//! management HTTP API (Warren's, or RabbitMQ's: the API is the same). Options are
//! rabbitmqctl's and may come before or after the verb; output, exit codes and texts are
//! rabbitmqctl 3.10's, except where they would name Erlang nodes or processes.

mod access;
mod columns;
mod connections;
mod definitions;
mod failure;
mod http;
mod node;
mod output;
mod queues;
mod routing;
mod value;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use failure::Failure;
use http::Api;
use output::{Formatter, Output};

/// `warren ctl [options] <verb> [args]`
#[derive(Debug, Args)]
#[command(
    about = "rabbitmqctl's verbs against a running broker's management API",
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Ctl {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, Args)]
struct Global {
    /// The broker's management API
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "WARREN_MANAGEMENT_URL",
        default_value = "http://127.0.0.1:15672"
    )]
    management_url: String,
    /// A user tagged administrator
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        env = "WARREN_CTL_USERNAME",
        default_value = "guest"
    )]
    username: String,
    /// Its password
    #[arg(
        long,
        global = true,
        value_name = "SECRET",
        env = "WARREN_CTL_PASSWORD",
        default_value = "guest",
        hide_env_values = true,
        hide_default_value = true
    )]
    password: String,
    /// The virtual host of the verbs scoped to one
    #[arg(
        short = 'p',
        long,
        global = true,
        value_name = "VHOST",
        default_value = "/"
    )]
    vhost: String,
    /// Operation timeout in seconds
    #[arg(short = 't', long, global = true, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Suppress informational messages
    #[arg(short = 'q', long, global = true)]
    quiet: bool,
    /// Suppress informational messages and the table header row
    #[arg(short = 's', long, global = true)]
    silent: bool,
    /// No header row in tables
    #[arg(long, global = true)]
    no_table_headers: bool,
    /// How results are printed
    #[arg(long, global = true, value_enum, default_value = "table")]
    formatter: Formatter,
}

#[derive(Debug, Subcommand)]
#[command(rename_all = "snake_case")]
enum Verb {
    /// Lists queues and their properties
    ListQueues {
        #[arg(long)]
        online: bool,
        #[arg(long)]
        offline: bool,
        #[arg(long)]
        local: bool,
        /// Info keys (name messages by default; see rabbitmqctl's list_queues)
        #[arg(value_name = "COLUMN")]
        columns: Vec<String>,
    },
    /// Lists exchanges
    ListExchanges {
        /// Info keys: name type durable auto_delete internal arguments policy
        #[arg(value_name = "COLUMN")]
        columns: Vec<String>,
    },
    /// Lists all bindings on a vhost
    ListBindings {
        /// Info keys: source_name source_kind destination_name destination_kind routing_key arguments
        #[arg(value_name = "COLUMN")]
        columns: Vec<String>,
    },
    /// Lists AMQP 0.9.1 connections
    ListConnections {
        /// Info keys (user peer_host peer_port state by default)
        #[arg(value_name = "COLUMN")]
        columns: Vec<String>,
    },
    /// Lists all consumers for a vhost
    ListConsumers {
        /// Info keys: queue_name channel_pid consumer_tag ack_required prefetch_count active activity_status arguments
        #[arg(value_name = "COLUMN")]
        columns: Vec<String>,
    },
    /// Purges a queue (removes all messages in it)
    PurgeQueue { queue: String },
    /// Deletes a queue
    DeleteQueue {
        queue_name: String,
        /// Delete the queue if it is empty (has no messages ready for delivery)
        #[arg(short = 'e', long = "if-empty")]
        if_empty: bool,
        /// Delete the queue only if it has no consumers
        #[arg(short = 'u', long = "if-unused")]
        if_unused: bool,
    },
    /// Closes a connection (named as list_connections name shows it)
    CloseConnection { name: String, explanation: String },
    /// Creates a new user in the internal database
    AddUser {
        #[arg(value_name = "USERNAME")]
        user: String,
        /// [default: a line of standard input]
        #[arg(value_name = "PASSWORD", allow_hyphen_values = true)]
        secret: Option<String>,
    },
    /// Removes a user from the internal database
    DeleteUser {
        #[arg(value_name = "USERNAME")]
        user: String,
    },
    /// Sets user tags
    SetUserTags {
        #[arg(value_name = "USERNAME")]
        user: String,
        tags: Vec<String>,
    },
    /// List user names and tags
    ListUsers,
    /// Creates a virtual host
    AddVhost {
        #[arg(value_name = "VHOST")]
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Comma-separated
        #[arg(long)]
        tags: Option<String>,
    },
    /// Deletes a virtual host
    DeleteVhost {
        #[arg(value_name = "VHOST")]
        name: String,
    },
    /// Lists virtual hosts
    ListVhosts {
        /// Info keys: name description tags default_queue_type tracing cluster_state
        #[arg(value_name = "COLUMN")]
        columns: Vec<String>,
    },
    /// Sets user permissions for a vhost
    SetPermissions {
        #[arg(value_name = "USERNAME")]
        user: String,
        #[arg(allow_hyphen_values = true)]
        conf: String,
        #[arg(allow_hyphen_values = true)]
        write: String,
        #[arg(allow_hyphen_values = true)]
        read: String,
    },
    /// Lists user permissions in a virtual host
    ListPermissions,
    /// Lists permissions of a user across virtual hosts
    ListUserPermissions {
        #[arg(value_name = "USERNAME")]
        user: String,
    },
    /// Exports definitions in JSON to a file, or standard output with -
    ExportDefinitions { file: String },
    /// Imports definitions in JSON from a file, or standard input with -
    ImportDefinitions { file: String },
    /// Waits until the broker answers (--timeout, 300 s by default)
    AwaitStartup,
    /// Displays status of the node
    Status,
    /// Checks that the broker is up (rabbitmq-diagnostics ping; the docker-compose healthcheck)
    Ping,
}

/// What a verb needs: the API, how to print, and the global options.
pub struct Context {
    api: Api,
    out: Output,
    vhost: String,
    timeout: Option<u64>,
    url: String,
    username: String,
    password: String,
}

impl Context {
    /// An API client with another timeout (await_startup's tries).
    fn connect(&self, timeout: Option<Duration>) -> Api {
        Api::new(&self.url, &self.username, &self.password, timeout)
    }
}

/// The management URL as given, if it is one warren ctl can use.
fn check_url(url: &str) -> Result<(), Failure> {
    if url.starts_with("http://") {
        return Ok(());
    }
    let why = if url.starts_with("https://") {
        "https is not supported: warren ctl speaks plain HTTP, as Warren serves it"
    } else {
        "not an http:// URL"
    };
    Err(Failure::new(
        failure::USAGE,
        format!(
            "Error: {url} is not a management API URL ({why}): give one such as \
             http://127.0.0.1:15672 with --management-url (WARREN_MANAGEMENT_URL)"
        ),
    ))
}

pub fn run(ctl: Ctl) -> ExitCode {
    match execute(ctl) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::from(failure.code)
        }
    }
}

fn execute(ctl: Ctl) -> Result<(), Failure> {
    let g = ctl.global;
    check_url(&g.management_url)?;
    if g.no_table_headers && g.formatter != Formatter::Table {
        return Err(Failure::usage(
            "--no-table-headers is an option of the table formatter only",
        ));
    }
    let timeout = g.timeout.map(Duration::from_secs);
    let ctx = Context {
        api: Api::new(&g.management_url, &g.username, &g.password, timeout),
        out: Output {
            formatter: g.formatter,
            quiet: g.quiet,
            silent: g.silent,
            table_headers: !g.no_table_headers,
        },
        vhost: g.vhost,
        timeout: g.timeout,
        url: g.management_url,
        username: g.username,
        password: g.password,
    };
    match &ctl.verb {
        Verb::ListQueues {
            offline, columns, ..
        } => queues::list_queues(&ctx, columns, *offline),
        Verb::ListExchanges { columns } => routing::list_exchanges(&ctx, columns),
        Verb::ListBindings { columns } => routing::list_bindings(&ctx, columns),
        Verb::ListConnections { columns } => connections::list_connections(&ctx, columns),
        Verb::ListConsumers { columns } => connections::list_consumers(&ctx, columns),
        Verb::PurgeQueue { queue } => queues::purge_queue(&ctx, queue),
        Verb::DeleteQueue {
            queue_name,
            if_empty,
            if_unused,
        } => queues::delete_queue(&ctx, queue_name, *if_empty, *if_unused),
        Verb::CloseConnection { name, explanation } => {
            connections::close_connection(&ctx, name, explanation)
        }
        Verb::AddUser { user, secret } => access::add_user(&ctx, user, secret.as_deref()),
        Verb::DeleteUser { user } => access::delete_user(&ctx, user),
        Verb::SetUserTags { user, tags } => access::set_user_tags(&ctx, user, tags),
        Verb::ListUsers => access::list_users(&ctx),
        Verb::AddVhost {
            name,
            description,
            tags,
        } => access::add_vhost(&ctx, name, description.as_deref(), tags.as_deref()),
        Verb::DeleteVhost { name } => access::delete_vhost(&ctx, name),
        Verb::ListVhosts { columns } => access::list_vhosts(&ctx, columns),
        Verb::SetPermissions {
            user,
            conf,
            write,
            read,
        } => access::set_permissions(&ctx, user, conf, write, read),
        Verb::ListPermissions => access::list_permissions(&ctx),
        Verb::ListUserPermissions { user } => access::list_user_permissions(&ctx, user),
        Verb::ExportDefinitions { file } => definitions::export_definitions(&ctx, file),
        Verb::ImportDefinitions { file } => definitions::import_definitions(&ctx, file),
        Verb::AwaitStartup => node::await_startup(&ctx),
        Verb::Status => node::status(&ctx),
        Verb::Ping => node::ping(&ctx),
    }
}

/// rabbitmqctl exits 64 (EX_USAGE) on bad arguments where clap would exit 2.
pub fn usage_exit_code(clap_code: i32) -> u8 {
    if clap_code == 2 {
        failure::USAGE
    } else {
        u8::try_from(clap_code).unwrap_or(failure::USAGE)
    }
}
