//! Who may log in and what each may do: users (name, password hash, tags), their permissions
//! in each vhost and their topic permissions, as RabbitMQ's internal backend keeps them. Read
//! at every login and `connection.open`, and changed at run time by the management API.
//!
//! A change takes effect on open connections at once, as in RabbitMQ (a cleared permission
//! refuses the next `queue.declare` of a connection opened with it): each change counts a
//! generation, and an `Actor`'s [`LivePermissions`] compare it
//! (one atomic load) before each check, fetching again when it moved.

use std::cell::{Ref, RefCell};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::auth::{self, Credentials, User};
use crate::model::access::{Pattern, Permissions, TopicPermission};

/// One user's permissions in one vhost, as given (RabbitMQ's `set_permissions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub user: String,
    pub vhost: String,
    pub configure: String,
    pub write: String,
    pub read: String,
}

/// One user's topic permissions on one exchange of one vhost, as given: `{username}` and
/// `{vhost}` in `write` and `read` are replaced when they are compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicGrant {
    pub user: String,
    pub vhost: String,
    pub exchange: String,
    pub write: String,
    pub read: String,
}

impl Grant {
    /// Full permissions (`.*` three times), as a fresh RabbitMQ gives guest on `/`.
    pub fn full(user: impl Into<String>, vhost: impl Into<String>) -> Self {
        Grant {
            user: user.into(),
            vhost: vhost.into(),
            configure: ".*".into(),
            write: ".*".into(),
            read: ".*".into(),
        }
    }

    /// The expressions compiled, with these topic permissions; the error names which
    /// expression is wrong.
    pub fn compile(&self, topics: &[&TopicGrant]) -> Result<Permissions, String> {
        let pattern = |which: &str, expression: &str| {
            Pattern::new(expression).map_err(|e| format!("{which}: {e}"))
        };
        Ok(Permissions {
            configure: pattern("configure", &self.configure)?,
            write: pattern("write", &self.write)?,
            read: pattern("read", &self.read)?,
            topics: topics
                .iter()
                .map(|topic| topic.compile())
                .collect::<Result<_, _>>()?,
        })
    }
}

impl TopicGrant {
    pub fn compile(&self) -> Result<TopicPermission, String> {
        let pattern = |which: &str, expression: &str| {
            let expanded = expression
                .replace("{username}", &self.user)
                .replace("{vhost}", &self.vhost);
            Pattern::new(&expanded).map_err(|e| format!("{which}: {e}"))
        };
        Ok(TopicPermission {
            exchange: self.exchange.clone(),
            write: pattern("write", &self.write)?,
            read: pattern("read", &self.read)?,
        })
    }
}

/// The broker's users and what each may do (see the module docs).
#[derive(Debug)]
pub struct Users {
    generation: AtomicU64,
    state: RwLock<State>,
    /// RabbitMQ's `loopback_users`: set at start.
    loopback_only: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    users: BTreeMap<String, User>,
    /// By (vhost, user), with the permissions compiled (topic permissions included).
    grants: BTreeMap<(String, String), (Grant, Arc<Permissions>)>,
    /// By (vhost, user, exchange).
    topic_grants: BTreeMap<(String, String, String), TopicGrant>,
}

impl State {
    /// Compiles `(vhost, user)`'s permissions again, with its topic permissions as they are.
    fn recompile(&mut self, vhost: &str, user: &str) -> Result<(), String> {
        let key = (vhost.to_string(), user.to_string());
        let Some((grant, _)) = self.grants.get(&key) else {
            return Ok(());
        };
        let topics: Vec<&TopicGrant> = self
            .topic_grants
            .range((vhost.to_string(), user.to_string(), String::new())..)
            .take_while(|((v, u, _), _)| v == vhost && u == user)
            .map(|(_, topic)| topic)
            .collect();
        let permissions = Arc::new(grant.compile(&topics)?);
        if let Some(entry) = self.grants.get_mut(&key) {
            entry.1 = permissions;
        }
        Ok(())
    }
}

impl Users {
    /// The users and grants of a configuration; of two entries for one user (or one user and
    /// vhost), the later counts, as when RabbitMQ imports definitions.
    pub fn new(
        users: &[User],
        grants: &[Grant],
        topic_grants: &[TopicGrant],
        loopback_only: &[String],
    ) -> Result<Self, String> {
        let this = Users {
            generation: AtomicU64::new(0),
            state: RwLock::default(),
            loopback_only: loopback_only.to_vec(),
        };
        for user in users {
            this.put_user(user.clone());
        }
        for grant in grants {
            this.set_permissions(grant.clone())?;
        }
        for topic in topic_grants {
            this.set_topic_permissions(topic.clone())?;
        }
        Ok(this)
    }

    /// Moves on after a change, so that every [`LivePermissions`] fetches again.
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The user these credentials name, if the password matches (see [`auth::authenticate`]).
    pub fn authenticate(&self, credentials: &Credentials) -> Option<User> {
        let state = self.state.read();
        let user = state
            .users
            .get(std::str::from_utf8(&credentials.user).ok()?)?;
        auth::authenticate(std::slice::from_ref(user), credentials).cloned()
    }

    /// Whether `user` may only connect over loopback (guest, by default).
    pub fn is_loopback_only(&self, user: &str) -> bool {
        self.loopback_only.iter().any(|name| name == user)
    }

    pub fn user(&self, name: &str) -> Option<User> {
        self.state.read().users.get(name).cloned()
    }

    /// Every user, by name.
    pub fn list(&self) -> Vec<User> {
        self.state.read().users.values().cloned().collect()
    }

    /// Adds or replaces a user; true if it is new.
    pub fn put_user(&self, user: User) -> bool {
        let created = self
            .state
            .write()
            .users
            .insert(user.name.clone(), user)
            .is_none();
        self.changed();
        created
    }

    /// Deletes a user and every permission they had; false if there was none.
    pub fn delete_user(&self, name: &str) -> bool {
        let mut state = self.state.write();
        if state.users.remove(name).is_none() {
            return false;
        }
        state.grants.retain(|(_, user), _| user != name);
        state.topic_grants.retain(|(_, user, _), _| user != name);
        drop(state);
        self.changed();
        true
    }

    /// What `user` may do in `vhost`, if anything.
    pub fn permissions(&self, user: &str, vhost: &str) -> Option<Arc<Permissions>> {
        let state = self.state.read();
        let (_, permissions) = state.grants.get(&(vhost.to_string(), user.to_string()))?;
        Some(Arc::clone(permissions))
    }

    /// Every grant, by vhost then user.
    pub fn grants(&self) -> Vec<Grant> {
        let state = self.state.read();
        state
            .grants
            .values()
            .map(|(grant, _)| grant.clone())
            .collect()
    }

    /// Sets (or replaces) what a user may do in a vhost; true if it is new. An expression that
    /// is not a regular expression Warren supports is refused with the reason.
    pub fn set_permissions(&self, grant: Grant) -> Result<bool, String> {
        grant.compile(&[])?;
        let key = (grant.vhost.clone(), grant.user.clone());
        let mut state = self.state.write();
        let placeholder = Arc::new(Permissions::none());
        let created = state
            .grants
            .insert(key, (grant.clone(), placeholder))
            .is_none();
        state.recompile(&grant.vhost, &grant.user)?;
        drop(state);
        self.changed();
        Ok(created)
    }

    /// Clears what a user may do in a vhost; false if there was nothing.
    pub fn clear_permissions(&self, user: &str, vhost: &str) -> bool {
        let key = (vhost.to_string(), user.to_string());
        let removed = self.state.write().grants.remove(&key).is_some();
        if removed {
            self.changed();
        }
        removed
    }

    /// Every topic grant, by vhost, user and exchange.
    pub fn topic_grants(&self) -> Vec<TopicGrant> {
        self.state.read().topic_grants.values().cloned().collect()
    }

    /// Sets (or replaces) a user's topic permissions on one exchange; true if they are new.
    pub fn set_topic_permissions(&self, topic: TopicGrant) -> Result<bool, String> {
        topic.compile()?;
        let key = (
            topic.vhost.clone(),
            topic.user.clone(),
            topic.exchange.clone(),
        );
        let mut state = self.state.write();
        let created = state.topic_grants.insert(key, topic.clone()).is_none();
        state.recompile(&topic.vhost, &topic.user)?;
        drop(state);
        self.changed();
        Ok(created)
    }

    /// Clears a user's topic permissions in a vhost, on one exchange or all; false if there
    /// were none.
    pub fn clear_topic_permissions(&self, user: &str, vhost: &str, exchange: Option<&str>) -> bool {
        let mut state = self.state.write();
        let before = state.topic_grants.len();
        state.topic_grants.retain(|(v, u, x), _| {
            !(v == vhost && u == user && exchange.map_or(true, |exchange| exchange == x))
        });
        let removed = state.topic_grants.len() != before;
        // Compiling what compiled before, with fewer topic permissions, cannot fail.
        let _ = state.recompile(vhost, user);
        drop(state);
        if removed {
            self.changed();
        }
        removed
    }

    /// Forgets every grant in a vhost that is deleted.
    pub fn forget_vhost(&self, vhost: &str) {
        let mut state = self.state.write();
        state.grants.retain(|(v, _), _| v != vhost);
        state.topic_grants.retain(|(v, _, _), _| v != vhost);
        drop(state);
        self.changed();
    }
}

/// A connection's permissions in its vhost, kept current with [`Users`]: the connection checks
/// them on every method (`basic.publish` included), so a check costs one atomic load until
/// something changes.
#[derive(Debug, Clone)]
pub struct LivePermissions {
    users: Arc<Users>,
    user: String,
    vhost: String,
    /// The generation they were fetched at, and what they were.
    cached: RefCell<(u64, Arc<Permissions>)>,
}

impl LivePermissions {
    /// What `user` may do in `vhost` now, if anything (None: the connection is refused).
    pub fn fetch(users: &Arc<Users>, user: &str, vhost: &str) -> Option<Self> {
        let generation = users.generation();
        let permissions = users.permissions(user, vhost)?;
        Some(LivePermissions {
            users: Arc::clone(users),
            user: user.to_string(),
            vhost: vhost.to_string(),
            cached: RefCell::new((generation, permissions)),
        })
    }

    /// The permissions as they are now; none at all if they were cleared.
    pub fn current(&self) -> Ref<'_, Permissions> {
        let generation = self.users.generation();
        if self.cached.borrow().0 != generation {
            let fresh = self
                .users
                .permissions(&self.user, &self.vhost)
                .unwrap_or_else(|| Arc::new(Permissions::none()));
            *self.cached.borrow_mut() = (generation, fresh);
        }
        Ref::map(self.cached.borrow(), |(_, permissions)| &**permissions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::access::Permission;

    fn users() -> Arc<Users> {
        let alice = User::new("alice", "secret");
        let grant = Grant {
            configure: "^alice\\.".into(),
            ..Grant::full("alice", "/")
        };
        Arc::new(Users::new(&[alice], &[grant], &[], &[]).expect("valid"))
    }

    #[test]
    fn a_connection_sees_a_cleared_and_a_changed_permission_at_once() {
        let users = users();
        let live = LivePermissions::fetch(&users, "alice", "/").expect("granted");
        assert!(live.current().allows(Permission::Configure, b"alice.q"));
        assert!(!live.current().allows(Permission::Configure, b"bob.q"));
        users
            .set_permissions(Grant::full("alice", "/"))
            .expect("valid");
        assert!(live.current().allows(Permission::Configure, b"bob.q"));
        assert!(users.clear_permissions("alice", "/"));
        assert!(!live.current().allows(Permission::Read, b"alice.q"));
        assert!(LivePermissions::fetch(&users, "alice", "/").is_none());
    }

    #[test]
    fn topic_permissions_follow_their_grant_and_are_expanded() {
        let users = users();
        let topic = TopicGrant {
            user: "alice".into(),
            vhost: "/".into(),
            exchange: "x".into(),
            write: "^{username}\\.".into(),
            read: ".*".into(),
        };
        assert!(users.set_topic_permissions(topic).expect("valid"));
        let live = LivePermissions::fetch(&users, "alice", "/").expect("granted");
        assert!(live
            .current()
            .allows_topic(Permission::Write, b"x", b"alice.created"));
        assert!(!live
            .current()
            .allows_topic(Permission::Write, b"x", b"bob.created"));
        assert!(users.clear_topic_permissions("alice", "/", None));
        assert!(live
            .current()
            .allows_topic(Permission::Write, b"x", b"bob.created"));
    }

    #[test]
    fn a_deleted_user_loses_its_grants_and_a_bad_expression_is_refused() {
        let users = users();
        assert!(users.delete_user("alice"));
        assert!(users.grants().is_empty());
        assert!(!users.delete_user("alice"));
        let bad = Grant {
            read: "(".into(),
            ..Grant::full("alice", "/")
        };
        let error = users.set_permissions(bad).expect_err("not a regex");
        assert!(error.starts_with("read: "), "{error}");
    }
}
