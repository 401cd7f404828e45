//! RabbitMQ's definitions file, the JSON that `rabbitmqctl export_definitions` writes and
//! `load_definitions` reads, so that one file configures Warren and RabbitMQ alike.
//!
//! Read: `users` (`name`, `password_hash` with `hashing_algorithm`, or `password` in clear;
//! `tags`), `vhosts` (`name`) and `permissions` (`user`, `vhost`, `configure`, `write`,
//! `read`). Other sections (`policies`, `parameters`, `topic_permissions`, ...) are accepted and
//! ignored, with a warning for those that would change behaviour.
//!
//! As in RabbitMQ, a node configured from a definitions file has exactly what the file
//! defines: no `guest` user and no `/` vhost unless the file has them.

use std::sync::Arc;

use serde::Deserialize;

use crate::access::{Pattern, Permissions};
use crate::auth::{HashingAlgorithm, PasswordHash, User};
use crate::{BrokerConfig, UserPermissions};

#[derive(Debug, Deserialize)]
struct Definitions {
    #[serde(default)]
    users: Vec<UserDefinition>,
    #[serde(default)]
    vhosts: Vec<VHostDefinition>,
    #[serde(default)]
    permissions: Vec<PermissionDefinition>,
    #[serde(default)]
    topic_permissions: Vec<serde_json::Value>,
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

/// A configuration read from a definitions file, and what in the file was ignored.
#[derive(Debug)]
pub struct Loaded {
    pub config: BrokerConfig,
    pub warnings: Vec<String>,
}

/// Reads a definitions file's text. Errors say where the problem is (JSON line and column, or
/// which user / permission entry) and what to change.
pub fn parse(text: &str) -> Result<Loaded, String> {
    let definitions: Definitions =
        serde_json::from_str(text).map_err(|e| format!("not a RabbitMQ definitions file: {e}"))?;
    let mut warnings = Vec::new();
    if !definitions.topic_permissions.is_empty() {
        warnings.push(format!(
            "{} topic permission(s) ignored: Warren does not enforce topic permissions",
            definitions.topic_permissions.len()
        ));
    }
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
    let mut permissions = Vec::new();
    for entry in definitions.permissions {
        let context = format!(
            "permissions of user '{}' in vhost '{}'",
            entry.user, entry.vhost
        );
        if !users.iter().any(|u| u.name == entry.user) {
            return Err(format!("{context}: no such user in \"users\""));
        }
        if !vhosts.contains(&entry.vhost) {
            return Err(format!("{context}: no such vhost in \"vhosts\""));
        }
        let pattern = |which: &str, expression: &str| {
            Pattern::new(expression).map_err(|e| format!("{context}, {which}: {e}"))
        };
        permissions.push(UserPermissions {
            permissions: Arc::new(Permissions {
                configure: pattern("configure", &entry.configure)?,
                write: pattern("write", &entry.write)?,
                read: pattern("read", &entry.read)?,
            }),
            user: entry.user,
            vhost: entry.vhost,
        });
    }
    Ok(Loaded {
        config: BrokerConfig {
            users,
            vhosts,
            permissions,
            ..BrokerConfig::default()
        },
        warnings,
    })
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
    use crate::access::Permission;

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
        let permissions = &granted.permissions;
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
        for (text, expected) in cases {
            let error = parse(text).expect_err(text);
            assert!(
                error.contains(expected),
                "{error:?} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn ignored_sections_are_reported() {
        let loaded =
            parse(r#"{"policies": [{"name": "p"}], "topic_permissions": [{}]}"#).expect("valid");
        assert_eq!(loaded.warnings.len(), 2);
        assert!(loaded.config.users.is_empty() && loaded.config.vhosts.is_empty());
    }
}
