//! RabbitMQ's definitions file, the JSON that `rabbitmqctl export_definitions` writes and
//! `load_definitions` reads, so that one file configures Warren and RabbitMQ alike.
//!
//! Read: `users` (`name`, `password_hash` with `hashing_algorithm`, or `password` in clear;
//! `tags`), `vhosts` (`name`), `permissions` (`user`, `vhost`, `configure`, `write`, `read`),
//! `topic_permissions` (the same with `exchange`, `write` and `read`), and `exchanges`,
//! `queues` and `bindings`, declared when the broker starts. Other sections (`policies`,
//! `parameters`, ...) are accepted and ignored, with a warning for those that would change
//! behaviour.
//!
//! As in RabbitMQ, a node configured from a definitions file has exactly what the file
//! defines: no `guest` user and no `/` vhost unless the file has them.

mod export;
mod tables;

pub use export::{export, grant_json, topic_grant_json, user_json};
pub use tables::{table_from_json, table_to_json};

use serde::Deserialize;
use warren_router::ExchangeKind;
use warren_wire::{FieldTable, ShortStr};

use crate::auth::{HashingAlgorithm, PasswordHash, User};
use crate::model::exchange::{Destination, INTERNAL_USER};
use crate::model::users::{Grant, TopicGrant};
use crate::model::vhost::{ExchangeSpec, QueueSpec};
use crate::{Broker, BrokerConfig};

#[derive(Debug, Deserialize)]
struct Definitions {
    #[serde(default)]
    users: Vec<UserDefinition>,
    #[serde(default)]
    vhosts: Vec<VHostDefinition>,
    #[serde(default)]
    permissions: Vec<PermissionDefinition>,
    #[serde(default)]
    exchanges: Vec<ExchangeDefinition>,
    #[serde(default)]
    queues: Vec<QueueDefinition>,
    #[serde(default)]
    bindings: Vec<BindingDefinition>,
    #[serde(default)]
    topic_permissions: Vec<TopicPermissionDefinition>,
    #[serde(default)]
    policies: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct UserDefinition {
    name: String,
    password_hash: Option<String>,
    password: Option<String>,
    hashing_algorithm: Option<String>,
    #[serde(default)]
    tags: Tags,
}

/// RabbitMQ writes tags as a list; older exports as one comma-separated string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Tags {
    List(Vec<String>),
    Text(String),
}

impl Default for Tags {
    fn default() -> Self {
        Tags::List(Vec::new())
    }
}

#[derive(Debug, Deserialize)]
struct VHostDefinition {
    name: String,
}

#[derive(Debug, Deserialize)]
struct PermissionDefinition {
    user: String,
    vhost: String,
    configure: String,
    write: String,
    read: String,
}

#[derive(Debug, Deserialize)]
struct TopicPermissionDefinition {
    user: String,
    vhost: String,
    exchange: String,
    write: String,
    read: String,
}

#[derive(Debug, Deserialize)]
struct ExchangeDefinition {
    name: String,
    vhost: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    durable: bool,
    #[serde(default)]
    auto_delete: bool,
    #[serde(default)]
    internal: bool,
    #[serde(default)]
    arguments: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct QueueDefinition {
    name: String,
    vhost: String,
    #[serde(default)]
    durable: bool,
    #[serde(default)]
    auto_delete: bool,
    #[serde(default)]
    arguments: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct BindingDefinition {
    source: String,
    vhost: String,
    destination: String,
    destination_type: String,
    #[serde(default)]
    routing_key: String,
    #[serde(default)]
    arguments: serde_json::Map<String, serde_json::Value>,
}

/// Exchanges, queues and bindings to declare, by vhost name, in the file's order.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    pub exchanges: Vec<(String, ExchangeSpec)>,
    pub queues: Vec<(String, QueueSpec)>,
    pub bindings: Vec<(String, BindingSpec)>,
}

#[derive(Debug, Clone)]
pub struct BindingSpec {
    pub source: ShortStr,
    pub destination: ShortStr,
    /// To a queue, or else to an exchange.
    pub to_queue: bool,
    pub routing_key: ShortStr,
    pub arguments: FieldTable,
}

impl Topology {
    /// Declares everything in `vhosts`, exchanges first, then queues, then bindings, as
    /// RabbitMQ imports them. The first failure is returned, saying which entry it was.
    pub fn declare(&self, broker: &Broker) -> Result<(), String> {
        let vhost = |name: &str, what: &str| {
            broker
                .vhost(name.as_bytes())
                .ok_or_else(|| format!("{what}: no such vhost in \"vhosts\""))
        };
        for (name, spec) in &self.exchanges {
            let what = format!("exchange '{}' in vhost '{name}'", spec.name);
            vhost(name, &what)?
                .declare_exchange(spec.clone(), false, &ShortStr::from_static(INTERNAL_USER))
                .map_err(|e| format!("{what}: {}", e.reply_text()))?;
        }
        for (name, spec) in &self.queues {
            let what = format!("queue '{}' in vhost '{name}'", spec.name);
            // Not exclusive, so no owner: connection ids start at 1.
            vhost(name, &what)?
                .declare_queue(spec.clone(), 0)
                .map_err(|e| format!("{what}: {}", e.reply_text()))?;
        }
        for (name, spec) in &self.bindings {
            let what = format!(
                "binding of '{}' to '{}' in vhost '{name}'",
                spec.source, spec.destination
            );
            let vhost = vhost(name, &what)?;
            let destination = if spec.to_queue {
                vhost
                    .queue(spec.destination.as_bytes())
                    .map(Destination::Queue)
            } else {
                vhost
                    .exchange(spec.destination.as_bytes())
                    .map(Destination::Exchange)
            };
            destination
                .and_then(|destination| {
                    vhost.bind(
                        spec.source.as_bytes(),
                        destination,
                        &spec.routing_key,
                        &spec.arguments,
                    )
                })
                .map_err(|e| format!("{what}: {}", e.reply_text()))?;
        }
        Ok(())
    }
}

/// A configuration read from a definitions file, and what in the file was ignored.
#[derive(Debug)]
pub struct Loaded {
    pub config: BrokerConfig,
    pub warnings: Vec<String>,
}

/// Reads a definitions file's text. Errors say where the problem is (JSON line and column, or
/// which user / permission entry) and what to change.
pub fn parse(text: &str) -> Result<Loaded, String> {
    let loaded = read(text, |_| false, |_| false)?;
    // Declared once on a throw-away broker, so that a mistake stops the start with its reason.
    let scratch = Broker::new(BrokerConfig {
        vhosts: loaded.config.vhosts.clone(),
        ..BrokerConfig::empty()
    });
    loaded.config.topology.declare(&scratch)?;
    Ok(loaded)
}

/// Adds a definitions file's users, vhosts, permissions, exchanges, queues and bindings to a
/// running broker, as `POST /api/definitions` does: what exists already stays, or is
/// replaced (users, permissions). Returns what was ignored.
pub fn import(broker: &Broker, text: &str) -> Result<Vec<String>, String> {
    let users = broker.users();
    let Loaded { config, warnings } = read(
        text,
        |user| users.user(user).is_some(),
        |vhost| broker.vhost(vhost.as_bytes()).is_some(),
    )?;
    for vhost in &config.vhosts {
        broker.add_vhost(vhost);
    }
    for user in config.users {
        users.put_user(user);
    }
    for grant in config.permissions {
        users.set_permissions(grant)?;
    }
    for topic in config.topic_permissions {
        users.set_topic_permissions(topic)?;
    }
    config.topology.declare(broker)?;
    Ok(warnings)
}

/// Reads a file's text; a permission may name a user or vhost of the file, or one that
/// `user_exists` or `vhost_exists`.
fn read(
    text: &str,
    user_exists: impl Fn(&str) -> bool,
    vhost_exists: impl Fn(&str) -> bool,
) -> Result<Loaded, String> {
    let definitions: Definitions =
        serde_json::from_str(text).map_err(|e| format!("not a RabbitMQ definitions file: {e}"))?;
    let mut warnings = Vec::new();
    if !definitions.policies.is_empty() {
        warnings.push(format!(
            "{} policy(ies) ignored: Warren does not apply policies; use queue arguments",
            definitions.policies.len()
        ));
    }
    let users = definitions
        .users
        .into_iter()
        .map(user)
        .collect::<Result<Vec<_>, _>>()?;
    let vhosts: Vec<String> = definitions.vhosts.into_iter().map(|v| v.name).collect();
    if let Some(long) = vhosts.iter().find(|v| v.len() > 255) {
        return Err(format!(
            "vhost '{long}': the name is longer than 255 bytes, which AMQP cannot carry"
        ));
    }
    let mut topic_permissions = Vec::new();
    for entry in definitions.topic_permissions {
        let grant = TopicGrant {
            user: entry.user,
            vhost: entry.vhost,
            exchange: entry.exchange,
            write: entry.write,
            read: entry.read,
        };
        grant.compile().map_err(|e| {
            format!(
                "topic permissions of user '{}' in vhost '{}' on exchange '{}', {e}",
                grant.user, grant.vhost, grant.exchange
            )
        })?;
        topic_permissions.push(grant);
    }
    let mut permissions = Vec::new();
    for entry in definitions.permissions {
        let context = format!(
            "permissions of user '{}' in vhost '{}'",
            entry.user, entry.vhost
        );
        if !users.iter().any(|u| u.name == entry.user) && !user_exists(&entry.user) {
            return Err(format!("{context}: no such user in \"users\""));
        }
        if !vhosts.contains(&entry.vhost) && !vhost_exists(&entry.vhost) {
            return Err(format!("{context}: no such vhost in \"vhosts\""));
        }
        let grant = Grant {
            user: entry.user,
            vhost: entry.vhost,
            configure: entry.configure,
            write: entry.write,
            read: entry.read,
        };
        grant.compile(&[]).map_err(|e| format!("{context}, {e}"))?;
        permissions.push(grant);
    }
    let topology = Topology {
        exchanges: definitions
            .exchanges
            .into_iter()
            .map(exchange)
            .collect::<Result<_, _>>()?,
        queues: definitions
            .queues
            .into_iter()
            .map(queue)
            .collect::<Result<_, _>>()?,
        bindings: definitions
            .bindings
            .into_iter()
            .map(binding)
            .collect::<Result<_, _>>()?,
    };
    Ok(Loaded {
        config: BrokerConfig {
            users,
            vhosts,
            permissions,
            topic_permissions,
            topology,
            ..BrokerConfig::empty()
        },
        warnings,
    })
}

fn short(text: String, what: &str) -> Result<ShortStr, String> {
    ShortStr::try_from(text).map_err(|_| format!("{what}: longer than 255 bytes"))
}

fn exchange(definition: ExchangeDefinition) -> Result<(String, ExchangeSpec), String> {
    let what = format!(
        "exchange '{}' in vhost '{}'",
        definition.name, definition.vhost
    );
    let kind = ExchangeKind::from_name(definition.kind.as_bytes()).ok_or_else(|| {
        format!(
            "{what}: type '{}' is not one Warren has (direct, fanout, topic, headers)",
            definition.kind
        )
    })?;
    let spec = ExchangeSpec {
        name: short(definition.name, &what)?,
        kind,
        durable: definition.durable,
        auto_delete: definition.auto_delete,
        internal: definition.internal,
        arguments: table_from_json(definition.arguments, &what)?,
    };
    Ok((definition.vhost, spec))
}

fn queue(definition: QueueDefinition) -> Result<(String, QueueSpec), String> {
    let what = format!(
        "queue '{}' in vhost '{}'",
        definition.name, definition.vhost
    );
    let spec = QueueSpec {
        name: short(definition.name, &what)?,
        server_named: false,
        durable: definition.durable,
        exclusive: false,
        auto_delete: definition.auto_delete,
        arguments: table_from_json(definition.arguments, &what)?,
    };
    Ok((definition.vhost, spec))
}

fn binding(definition: BindingDefinition) -> Result<(String, BindingSpec), String> {
    let what = format!(
        "binding of '{}' to '{}' in vhost '{}'",
        definition.source, definition.destination, definition.vhost
    );
    let to_queue = match definition.destination_type.as_str() {
        "queue" => true,
        "exchange" => false,
        other => {
            return Err(format!(
                "{what}: destination_type '{other}' is neither \"queue\" nor \"exchange\""
            ))
        }
    };
    let spec = BindingSpec {
        source: short(definition.source, &what)?,
        destination: short(definition.destination, &what)?,
        to_queue,
        routing_key: short(definition.routing_key, &what)?,
        arguments: table_from_json(definition.arguments, &what)?,
    };
    Ok((definition.vhost, spec))
}

fn user(definition: UserDefinition) -> Result<User, String> {
    let context = format!("user '{}'", definition.name);
    let algorithm_name = definition
        .hashing_algorithm
        .as_deref()
        .unwrap_or(HashingAlgorithm::DEFAULT_NAME);
    let algorithm = HashingAlgorithm::from_name(algorithm_name).ok_or_else(|| {
        format!(
            "{context}: hashing_algorithm '{algorithm_name}' is not supported; use \
             rabbit_password_hashing_sha256 (the default) or rabbit_password_hashing_sha512"
        )
    })?;
    let password = match (&definition.password_hash, &definition.password) {
        // An empty hash is RabbitMQ's "no password": such a user cannot log in with one.
        (Some(hash), _) if hash.is_empty() => None,
        (Some(hash), _) => Some(
            PasswordHash::from_base64(algorithm, hash)
                .map_err(|e| format!("{context}: password_hash is {e}"))?,
        ),
        (None, Some(password)) => Some(PasswordHash::new(algorithm, password)),
        (None, None) => {
            return Err(format!(
                "{context}: has neither password_hash nor password (make one with `warren \
                 hash-password`)"
            ))
        }
    };
    let tags = match definition.tags {
        Tags::List(tags) => tags,
        Tags::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect(),
    };
    Ok(User {
        name: definition.name,
        password,
        tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::access::Permission;

    /// What `rabbitmqctl export_definitions` writes (3.10), trimmed.
    const EXPORTED: &str = r#"{
        "rabbit_version": "3.10.8", "rabbitmq_version": "3.10.8",
        "product_name": "RabbitMQ", "product_version": "3.10.8",
        "users": [
            {"name": "app", "password_hash": "mjsQflkU6HJWhoRH4X3pDSi/eE98bpUYrHe48YSj2y7T8u55",
             "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["management"],
             "limits": {}},
            {"name": "ops", "password": "clear", "tags": "administrator,management"},
            {"name": "nologin", "password_hash": "", "tags": []}
        ],
        "vhosts": [{"name": "/", "limits": [], "metadata": {"description": "", "tags": []}},
                   {"name": "billing"}],
        "permissions": [
            {"user": "app", "vhost": "billing", "configure": "^app\\.", "write": ".*", "read": ""}
        ],
        "topic_permissions": [], "parameters": [], "global_parameters": [], "policies": [],
        "queues": [], "exchanges": [], "bindings": []
    }"#;

    /// Each definitions text is refused with an error containing its expected words.
    fn assert_refused_with(cases: &[(&str, &str)]) {
        for &(text, expected) in cases {
            let error = parse(text).expect_err(text);
            assert!(
                error.contains(expected),
                "{error:?} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn reads_an_exported_file() {
        let loaded = parse(EXPORTED).expect("valid");
        assert!(loaded.warnings.is_empty());
        let config = loaded.config;
        assert_eq!(config.vhosts, ["/", "billing"]);
        let app = &config.users[0];
        assert_eq!(app.tags, ["management"]);
        assert!(app.password.as_ref().expect("hash").verify(b"s3cret"));
        assert!(config.users[1]
            .password
            .as_ref()
            .expect("hash")
            .verify(b"clear"));
        assert_eq!(config.users[1].tags, ["administrator", "management"]);
        assert!(config.users[2].password.is_none());
        let granted = &config.permissions[0];
        assert_eq!(
            (granted.user.as_str(), granted.vhost.as_str()),
            ("app", "billing")
        );
        let permissions = granted.compile(&[]).expect("valid");
        assert!(permissions.allows(Permission::Configure, b"app.q"));
        assert!(!permissions.allows(Permission::Configure, b"other"));
        assert!(permissions.allows(Permission::Write, b"anything"));
        assert!(!permissions.allows(Permission::Read, b"anything"));
        assert_eq!(config.loopback_users, ["guest"]);
    }

    #[test]
    fn mistakes_are_explained() {
        let cases = [
            ("{", "not a RabbitMQ definitions file"),
            (r#"{"users": [{"name": "u"}]}"#, "user 'u': has neither"),
            (
                &format!(r#"{{"vhosts": [{{"name": "{}"}}]}}"#, "v".repeat(256)),
                "longer than 255 bytes",
            ),
            (
                r#"{"users": [{"name": "u", "password_hash": "x", "hashing_algorithm": "rabbit_password_hashing_md5"}]}"#,
                "hashing_algorithm 'rabbit_password_hashing_md5' is not supported",
            ),
            (
                r#"{"users": [{"name": "u", "password_hash": "AAAA"}]}"#,
                "user 'u': password_hash is 3 bytes",
            ),
            (
                r#"{"users": [{"name": "u", "password": "p"}], "vhosts": [{"name": "/"}],
                   "permissions": [{"user": "u", "vhost": "v", "configure": "", "write": "", "read": ""}]}"#,
                "permissions of user 'u' in vhost 'v': no such vhost",
            ),
            (
                r#"{"vhosts": [{"name": "/"}],
                   "permissions": [{"user": "u", "vhost": "/", "configure": "", "write": "", "read": ""}]}"#,
                "no such user",
            ),
            (
                r#"{"users": [{"name": "u", "password": "p"}], "vhosts": [{"name": "/"}],
                   "permissions": [{"user": "u", "vhost": "/", "configure": "(", "write": "", "read": ""}]}"#,
                "in vhost '/', configure: '(' is not a regular expression",
            ),
        ];
        assert_refused_with(&cases);
    }

    #[test]
    fn exchanges_queues_and_bindings_are_declared() {
        let text = r#"{
            "vhosts": [{"name": "/"}],
            "exchanges": [{"name": "events", "vhost": "/", "type": "topic", "durable": true,
                           "auto_delete": false, "internal": false, "arguments": {}}],
            "queues": [{"name": "audit", "vhost": "/", "durable": true, "auto_delete": false,
                        "arguments": {"x-max-length": 10, "x-queue-type": "classic"}}],
            "bindings": [{"source": "events", "vhost": "/", "destination": "audit",
                          "destination_type": "queue", "routing_key": "user.#", "arguments": {}}]
        }"#;
        let broker = crate::Broker::new(parse(text).expect("valid").config);
        let vhost = broker.vhost(b"/").expect("vhost /");
        let queue = vhost.queue(b"audit").expect("declared");
        assert!(queue.durable);
        assert_eq!(
            queue.arguments.get(b"x-max-length"),
            Some(&warren_wire::FieldValue::I64(10))
        );
        let key: ShortStr = "user.#".into();
        assert!(vhost.has_binding(
            b"events",
            &Destination::Queue(queue),
            &key,
            &FieldTable::new()
        ));
    }

    #[test]
    fn topology_mistakes_are_explained() {
        let cases = [
            (
                r#"{"vhosts": [{"name": "/"}], "exchanges": [{"name": "e", "vhost": "/", "type": "x-delayed-message"}]}"#,
                "exchange 'e' in vhost '/': type 'x-delayed-message' is not one Warren has",
            ),
            (
                r#"{"vhosts": [{"name": "/"}], "queues": [{"name": "q", "vhost": "v"}]}"#,
                "queue 'q' in vhost 'v': no such vhost",
            ),
            (
                r#"{"vhosts": [{"name": "/"}], "bindings": [{"source": "amq.topic", "vhost": "/", "destination": "q", "destination_type": "queue"}]}"#,
                "binding of 'amq.topic' to 'q' in vhost '/': NOT_FOUND - no queue 'q' in vhost '/'",
            ),
            (
                r#"{"vhosts": [{"name": "/"}], "queues": [{"name": "q", "vhost": "/", "arguments": {"x-max-length": "ten"}}]}"#,
                "queue 'q' in vhost '/': PRECONDITION_FAILED",
            ),
        ];
        assert_refused_with(&cases);
    }

    #[test]
    fn topic_permissions_expand_their_variables() {
        let text = r#"{
            "users": [{"name": "alice", "password": "pw"}],
            "vhosts": [{"name": "/"}],
            "permissions": [{"user": "alice", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}],
            "topic_permissions": [{"user": "alice", "vhost": "/", "exchange": "amq.topic",
                                   "write": "^{username}\\.", "read": "^vhost-{vhost}$"}]
        }"#;
        let config = parse(text).expect("valid").config;
        let broker = crate::Broker::new(config);
        let permissions = broker.users().permissions("alice", "/").expect("granted");
        let allows = |permission, exchange: &str, key: &str| {
            permissions.allows_topic(permission, exchange.as_bytes(), key.as_bytes())
        };
        assert!(allows(Permission::Write, "amq.topic", "alice.created"));
        assert!(!allows(Permission::Write, "amq.topic", "bob.created"));
        assert!(allows(Permission::Read, "amq.topic", "vhost-/"));
        assert!(!allows(Permission::Read, "amq.topic", "alice.created"));
        assert!(
            allows(Permission::Write, "other", "bob.created"),
            "other exchanges: free"
        );
    }

    #[test]
    fn ignored_sections_are_reported() {
        let loaded = parse(r#"{"policies": [{"name": "p"}]}"#).expect("valid");
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.config.users.is_empty() && loaded.config.vhosts.is_empty());
    }
}
