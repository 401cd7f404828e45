//! Users, vhosts and permissions: `/api/users`, `/api/vhosts`, `/api/permissions`.

use std::io::BufRead;

use serde_json::{json, Value as Json};

use super::columns::{self, column, Column, Get};
use super::failure::{Failure, DATA, NO_USER, SOFTWARE, UNAVAILABLE};
use super::http::segment;
use super::output::print;
use super::value::Value;
use super::Context;

const USER_COLUMNS: &[Column] = &[
    column("user", Get::Text("name")),
    column("tags", Get::With(tags)),
];

const VHOST_COLUMNS: &[Column] = &[
    column("name", Get::Text("name")),
    column("description", Get::Text("description")),
    column("tags", Get::With(tags)),
    column("default_queue_type", Get::With(default_queue_type)),
    column("tracing", Get::Flag("tracing")),
    column("cluster_state", Get::With(cluster_state)),
];

const PERMISSION_COLUMNS: &[Column] = &[
    column("user", Get::Text("user")),
    column("vhost", Get::Text("vhost")),
    column("configure", Get::Text("configure")),
    column("write", Get::Text("write")),
    column("read", Get::Text("read")),
];

/// Tags as a list of atoms; RabbitMQ before 3.9 gave them comma-separated.
fn tags(object: &Json) -> Value {
    let tags = match object.get("tags") {
        Some(Json::Array(items)) => items
            .iter()
            .filter_map(Json::as_str)
            .map(String::from)
            .collect(),
        Some(Json::String(text)) => text
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    };
    Value::Atoms(tags)
}

fn default_queue_type(vhost: &Json) -> Value {
    match columns::text(vhost.get("default_queue_type")) {
        Value::Empty => Value::Text("undefined".into()),
        kind => kind,
    }
}

fn cluster_state(vhost: &Json) -> Value {
    let states = match vhost.get("cluster_state") {
        Some(Json::Object(map)) => map
            .iter()
            .map(|(node, state)| (node.clone(), state.as_str().unwrap_or_default().to_string()))
            .collect(),
        _ => Vec::new(),
    };
    Value::NodeStates(states)
}

fn list(
    ctx: &Context,
    banner: String,
    path: &str,
    columns: &[Column],
    shown: &[&str],
) -> Result<(), Failure> {
    let chosen = columns::select(columns, &[], shown)?;
    print(&ctx.out.banner(&[banner]));
    let objects = ctx.api.list(path)?;
    print(
        &ctx.out
            .rows(&columns::keys(&chosen), &columns::rows(&chosen, &objects)),
    );
    Ok(())
}

pub fn list_users(ctx: &Context) -> Result<(), Failure> {
    list(
        ctx,
        "Listing users ...".into(),
        "/api/users",
        USER_COLUMNS,
        &["user", "tags"],
    )
}

pub fn list_vhosts(ctx: &Context, asked: &[String]) -> Result<(), Failure> {
    let chosen = columns::select(VHOST_COLUMNS, asked, &["name"])?;
    print(&ctx.out.banner(&["Listing vhosts ...".to_string()]));
    let vhosts = ctx.api.list("/api/vhosts")?;
    print(
        &ctx.out
            .rows(&columns::keys(&chosen), &columns::rows(&chosen, &vhosts)),
    );
    Ok(())
}

pub fn list_permissions(ctx: &Context) -> Result<(), Failure> {
    list(
        ctx,
        format!("Listing permissions for vhost \"{}\" ...", ctx.vhost),
        &format!("/api/vhosts/{}/permissions", segment(&ctx.vhost)),
        PERMISSION_COLUMNS,
        &["user", "configure", "write", "read"],
    )
}

pub fn list_user_permissions(ctx: &Context, user: &str) -> Result<(), Failure> {
    list(
        ctx,
        format!("Listing permissions for user \"{user}\" ..."),
        &format!("/api/users/{}/permissions", segment(user)),
        PERMISSION_COLUMNS,
        &["vhost", "configure", "write", "read"],
    )
}

fn user_path(name: &str) -> String {
    format!("/api/users/{}", segment(name))
}

fn no_such_user(name: &str) -> Failure {
    Failure::error(NO_USER, format!("User \"{name}\" does not exist"))
}

pub fn add_user(ctx: &Context, name: &str, password: Option<&str>) -> Result<(), Failure> {
    print(&ctx.out.banner(&[format!("Adding user \"{name}\" ...")]));
    let password = match password {
        Some(password) => password.to_string(),
        None => {
            // As rabbitmqctl: the password from standard input when not given.
            print("Password: \n");
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            if line.is_empty() {
                return Err(Failure::error(
                    DATA,
                    "Password is not provided via argument or stdin",
                ));
            }
            line
        }
    };
    // The API's PUT also changes a user that exists; rabbitmqctl refuses.
    if ctx.api.get(&user_path(name))?.status != 404 {
        return Err(Failure::error(
            SOFTWARE,
            format!("User \"{name}\" already exists"),
        ));
    }
    ctx.api
        .put(&user_path(name), &json!({"password": password, "tags": ""}))?
        .expect_success(SOFTWARE)?;
    print(
        &ctx.out.banner(&[
            "Done. Don't forget to grant the user permissions to some virtual hosts! See \
         'warren ctl help set_permissions' to learn more."
                .to_string(),
        ]),
    );
    Ok(())
}

pub fn delete_user(ctx: &Context, name: &str) -> Result<(), Failure> {
    print(&ctx.out.banner(&[format!("Deleting user \"{name}\" ...")]));
    let reply = ctx.api.delete(&user_path(name), &[])?;
    if reply.status == 404 {
        return Err(no_such_user(name));
    }
    reply.expect_success(SOFTWARE).map(drop)
}

pub fn set_user_tags(ctx: &Context, name: &str, tags: &[String]) -> Result<(), Failure> {
    print(&ctx.out.banner(&[format!(
        "Setting tags for user \"{name}\" to [{}] ...",
        tags.join(", ")
    )]));
    let reply = ctx.api.get(&user_path(name))?;
    if reply.status == 404 {
        return Err(no_such_user(name));
    }
    // A PUT without the password hash would leave the user without a password.
    let mut user = reply.expect_success(SOFTWARE)?.json();
    let Some(fields) = user.as_object_mut() else {
        return Err(Failure::error(
            SOFTWARE,
            format!("the API's user \"{name}\" is not an object"),
        ));
    };
    fields.insert("tags".into(), Json::String(tags.join(",")));
    fields.remove("limits");
    fields.remove("name");
    ctx.api
        .put(&user_path(name), &user)?
        .expect_success(SOFTWARE)
        .map(drop)
}

pub fn add_vhost(
    ctx: &Context,
    name: &str,
    description: Option<&str>,
    tags: Option<&str>,
) -> Result<(), Failure> {
    print(&ctx.out.banner(&[format!("Adding vhost \"{name}\" ...")]));
    let mut body = json!({});
    if let Some(description) = description {
        body["description"] = json!(description);
    }
    if let Some(tags) = tags {
        body["tags"] = json!(tags);
    }
    ctx.api
        .put(&format!("/api/vhosts/{}", segment(name)), &body)?
        .expect_success(SOFTWARE)
        .map(drop)
}

pub fn delete_vhost(ctx: &Context, name: &str) -> Result<(), Failure> {
    print(&ctx.out.banner(&[format!("Deleting vhost \"{name}\" ...")]));
    let reply = ctx
        .api
        .delete(&format!("/api/vhosts/{}", segment(name)), &[])?;
    if reply.status == 404 {
        // rabbitmqctl prints this one without its "Error:" line.
        return Err(Failure::new(
            DATA,
            format!("Virtual host '{name}' does not exist"),
        ));
    }
    reply.expect_success(SOFTWARE).map(drop)
}

pub fn set_permissions(
    ctx: &Context,
    user: &str,
    configure: &str,
    write: &str,
    read: &str,
) -> Result<(), Failure> {
    let vhost = &ctx.vhost;
    print(&ctx.out.banner(&[format!(
        "Setting permissions for user \"{user}\" in vhost \"{vhost}\" ..."
    )]));
    let reply = ctx.api.put(
        &format!("/api/permissions/{}/{}", segment(vhost), segment(user)),
        &json!({"configure": configure, "write": write, "read": read}),
    )?;
    if reply.is_success() {
        return Ok(());
    }
    // The API says vhost_or_user_not_found; rabbitmqctl says which.
    if ctx.api.get(&user_path(user))?.status == 404 {
        return Err(Failure::error(
            NO_USER,
            format!("User {user} does not exist"),
        ));
    }
    if ctx
        .api
        .get(&format!("/api/vhosts/{}", segment(vhost)))?
        .status
        == 404
    {
        return Err(Failure::error(
            UNAVAILABLE,
            format!("Virtual host {vhost} does not exist"),
        ));
    }
    let reason = reply.reason();
    if reason.contains("invalid_regexp") {
        return Err(Failure::error(
            UNAVAILABLE,
            format!(
                "invalid regular expression among '{configure}', '{write}', '{read}' ({reason})"
            ),
        ));
    }
    Err(Failure::error(UNAVAILABLE, reason))
}
