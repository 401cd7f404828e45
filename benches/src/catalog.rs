//! The wazo-bus event catalog (`data/wazo-bus-events.tsv`) and the Wazo stack that its templates
//! are filled from: users, tenants, applications, conferences… each a fixed pool of generated
//! values, so that a binding made for one publication is hit again by later publications that
//! concern the same user or object.
//!
//! Filling follows wazo-bus: `routing_key_fmt` and `required_acl` are `str.format` templates whose
//! string values are escaped (`.` → `__DOT__`, `#` → `__HASH__`, `*` → `__STAR__`), so a value
//! never adds words to a key; every message carries the event's header keys plus `origin_uuid`,
//! `timestamp`, `required_access` and `required_acl`, and `user_uuid:…` headers are `true`.

use std::sync::OnceLock;

use crate::rng::{mix, Rng};

/// Users in the stack. Pools are sized like a large Wazo deployment: 10 000 users in 20 tenants,
/// and a thousand of each other kind of object (applications, conferences, switchboards…).
pub const USERS: usize = 10_000;
const TENANTS: usize = 20;
const OBJECTS_PER_KIND: usize = 1_000;

/// Asterisk Manager events, as `ami.{name}` publishes them.
const AMI_EVENTS: &[&str] = &[
    "Newchannel",
    "Newstate",
    "Hangup",
    "DialBegin",
    "DialEnd",
    "BridgeEnter",
    "BridgeLeave",
    "VarSet",
    "DeviceStateChange",
    "QueueMemberStatus",
];
/// plugind's and sysconfd's progress statuses.
const STATUSES: &[&str] = &[
    "starting",
    "downloading",
    "installing",
    "completed",
    "error",
];
const EXTERNAL_AUTHS: &[&str] = &["google", "microsoft", "mobile"];
/// User services (`config.users.{user_uuid}.services.{service_name}.updated`) and the daemons
/// that `service.registered.{service_name}` announces.
const SERVICES: &[&str] = &[
    "dnd",
    "incallfilter",
    "wazo-calld",
    "wazo-confd",
    "wazo-auth",
];
const FORWARDS: &[&str] = &["busy", "noanswer", "unconditional"];
const CLIENT_IDS: &[&str] = &["wazo-mobile", "wazo-desktop", "wazo-portal"];
/// The stack's engine UUID: every daemon of one Wazo stack publishes with the same `origin_uuid`.
const ORIGIN_SEED: u64 = 0x5741_5a4f;

/// One event class of wazo-bus.
#[derive(Debug)]
pub struct Event {
    /// The event name, the `name` header; a template for AMI events (`{ami_event}`).
    pub name: &'static str,
    pub routing_key: &'static str,
    pub required_acl: &'static str,
    /// Header keys besides the four every message has, e.g. `tenant_uuid`,
    /// `user_uuid:{user_uuid}`, `user_uuid:*`.
    pub header_keys: Vec<&'static str>,
}

impl Event {
    /// Whether the event is addressed to users (`user_uuid:<uuid>` or `user_uuid:*` headers):
    /// the events that wazo-websocketd's users subscribe to.
    pub fn has_user_headers(&self) -> bool {
        self.header_keys
            .iter()
            .any(|key| key.starts_with(USER_HEADER_PREFIX))
    }

    /// The parameters the event is filled from: every `{placeholder}` of its templates and every
    /// header that carries a parameter's value (`tenant_uuid`, `application_uuid`…), each once,
    /// in order of appearance.
    fn params(&self) -> Vec<String> {
        let templates = [self.name, self.routing_key, self.required_acl];
        let placeholders = templates
            .into_iter()
            .chain(self.header_keys.iter().copied())
            .flat_map(placeholders_of);
        let valued_headers = self
            .header_keys
            .iter()
            .copied()
            .filter(|key| *key != "name" && !key.starts_with(USER_HEADER_PREFIX));
        let mut found: Vec<String> = Vec::new();
        for param in placeholders.chain(valued_headers) {
            let param = same_user(self, canonical(param));
            if !found.contains(&param) {
                found.push(param);
            }
        }
        found
    }

    /// Whether `param` names a user: it fills a `user_uuid:{…}` header.
    fn is_user_param(&self, param: &str) -> bool {
        self.header_keys.iter().any(|key| {
            key.strip_prefix(USER_HEADER_PREFIX)
                .and_then(|rest| rest.strip_prefix('{')?.strip_suffix('}'))
                .is_some_and(|user| same_user(self, canonical(user)) == param)
        })
    }
}

const USER_HEADER_PREFIX: &str = "user_uuid:";

/// The 385 event classes of wazo-bus, parsed once.
pub fn events() -> &'static [Event] {
    static EVENTS: OnceLock<Vec<Event>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        include_str!("../data/wazo-bus-events.tsv")
            .lines()
            .filter(|line| !line.starts_with('#'))
            .map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                let [name, routing_key, required_acl, header_keys] = fields[..] else {
                    panic!("a catalog line has four tab-separated fields: {line:?}");
                };
                Event {
                    name,
                    routing_key,
                    required_acl,
                    header_keys: header_keys.split(',').collect(),
                }
            })
            .collect()
    })
}

/// The UUID of user `index` (`0..USERS`), the same in every fixture.
pub fn user_uuid(index: usize) -> String {
    uuid(fnv1a("user_uuid") ^ index as u64)
}

/// A header value as wazo-bus publishes it (pamqp sends Python strings, ints and booleans).
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderValue {
    Str(String),
    Int(i64),
    Bool(bool),
}

/// A header or binding-arguments table, in order.
pub type Headers = Vec<(String, HeaderValue)>;

/// One event as a Wazo daemon would publish it: the event class and the value of each of its
/// placeholders.
#[derive(Debug)]
pub struct Publication {
    event: &'static Event,
    params: Vec<(String, String)>,
    timestamp: String,
}

impl Publication {
    /// Fills `event` with values drawn from the stack's pools. With `user`, the first user the
    /// event concerns is that user (`0..USERS`).
    pub(crate) fn draw(event: &'static Event, user: Option<usize>, rng: &mut Rng) -> Self {
        let mut user = user;
        let params = event
            .params()
            .into_iter()
            .map(|param| {
                let value = if event.is_user_param(&param) || param == "user_uuid" {
                    user_uuid(user.take().unwrap_or_else(|| rng.below(USERS)))
                } else {
                    draw_value(&param, rng)
                };
                (param, value)
            })
            .collect();
        let seconds = rng.below(86_400);
        let timestamp = format!(
            "2026-04-30T{:02}:{:02}:{:02}.{:06}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60,
            rng.below(1_000_000)
        );
        Publication {
            event,
            params,
            timestamp,
        }
    }

    pub fn name(&self) -> String {
        self.fill(self.event.name, false)
    }

    pub fn routing_key(&self) -> String {
        self.fill(self.event.routing_key, true)
    }

    /// The routing key's words, each with whether it holds a placeholder's value (a user's
    /// UUID, an id) rather than a fixed word of the template.
    pub(crate) fn routing_key_words(&self) -> Vec<(String, bool)> {
        self.event
            .routing_key
            .split('.')
            .map(|word| (self.fill(word, true), word.contains('{')))
            .collect()
    }

    /// The headers of the message, as wazo-bus sets them.
    pub fn headers(&self) -> Headers {
        let mut headers: Headers = self
            .event
            .header_keys
            .iter()
            .map(|&key| {
                if key.starts_with(USER_HEADER_PREFIX) {
                    (self.fill(key, false), HeaderValue::Bool(true))
                } else if key == "name" {
                    (key.to_owned(), HeaderValue::Str(self.name()))
                } else {
                    let value = self.param(key);
                    let value = value
                        .parse()
                        .map_or_else(|_| HeaderValue::Str(value.to_owned()), HeaderValue::Int);
                    (key.to_owned(), value)
                }
            })
            .collect();
        let text = |s: String| HeaderValue::Str(s);
        headers.extend([
            ("origin_uuid".to_owned(), text(uuid(ORIGIN_SEED))),
            ("timestamp".to_owned(), text(self.timestamp.clone())),
            (
                "required_access".to_owned(),
                text(format!("event.{}", self.name())),
            ),
            (
                "required_acl".to_owned(),
                text(self.fill(self.event.required_acl, true)),
            ),
        ]);
        headers
    }

    fn param(&self, name: &str) -> &str {
        let name = same_user(self.event, canonical(name));
        self.params
            .iter()
            .find(|(param, _)| *param == name)
            .map(|(_, value)| value.as_str())
            .unwrap_or_else(|| panic!("{} has no {{{name}}}", self.event.name))
    }

    /// `template` with its placeholders replaced, escaped as wazo-bus escapes routing keys and
    /// ACLs when `escape` is set.
    fn fill(&self, template: &str, escape: bool) -> String {
        let mut filled = String::with_capacity(template.len() + 32);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let close = open + rest[open..].find('}').expect("placeholders are closed");
            filled.push_str(&rest[..open]);
            let value = self.param(&rest[open + 1..close]);
            if escape {
                filled.push_str(
                    &value
                        .replace('.', "__DOT__")
                        .replace('#', "__HASH__")
                        .replace('*', "__STAR__"),
                );
            } else {
                filled.push_str(value);
            }
            rest = &rest[close + 1..];
        }
        filled.push_str(rest);
        filled
    }
}

/// The names between braces in `template`.
fn placeholders_of(template: &str) -> impl Iterator<Item = &str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
}

/// One name per value: AMI events name their event `{ami_event}` and key it `ami.{name}`, and
/// `{application[uuid]}` (an attribute of the event's object) is `application_uuid`.
fn canonical(param: &str) -> String {
    match param {
        "ami_event" => "name".to_owned(),
        other => other.replace('[', "_").replace(']', ""),
    }
}

/// confd's user-line events key on `{user_uuid}` and send the header `user_uuid:{uuid}`: the
/// same user.
fn same_user(event: &Event, param: String) -> String {
    if param == "uuid"
        && event.routing_key.contains("{user_uuid}")
        && event.header_keys.contains(&"user_uuid:{uuid}")
    {
        "user_uuid".to_owned()
    } else {
        param
    }
}

/// A value for a placeholder that does not name a user.
fn draw_value(param: &str, rng: &mut Rng) -> String {
    let word = |rng: &mut Rng, words: &[&str]| (*rng.pick(words)).to_owned();
    match param {
        "tenant_uuid" => uuid(fnv1a(param) ^ rng.below(TENANTS) as u64),
        "name" => word(rng, AMI_EVENTS),
        "status" => word(rng, STATUSES),
        "external_auth_name" => word(rng, EXTERNAL_AUTHS),
        "service_name" => word(rng, SERVICES),
        "forward_name" => word(rng, FORWARDS),
        "client_id" => word(rng, CLIENT_IDS),
        // Asterisk's unique ids, such as `1714470930.42`: the dot gets escaped in keys.
        p if p == "call_id" || p.ends_with("_call_id") => {
            format!("{}.{}", 1_714_400_000 + rng.below(86_400), rng.below(1_000))
        }
        p if p == "id" || p.ends_with("_id") => (1 + rng.below(OBJECTS_PER_KIND)).to_string(),
        p if p == "uuid" || p.ends_with("_uuid") => {
            uuid(fnv1a(p) ^ rng.below(OBJECTS_PER_KIND) as u64)
        }
        other => panic!("no generator for the catalog's placeholder {{{other}}}"),
    }
}

/// A version-4-shaped UUID derived from `seed`.
fn uuid(seed: u64) -> String {
    let high = mix(seed);
    let low = mix(high);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xfff,
        0x8000 | (low >> 48) & 0x3fff,
        low & 0xffff_ffff_ffff
    )
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::{events, user_uuid, HeaderValue, Publication, USERS};
    use crate::rng::Rng;

    #[test]
    fn the_catalog_has_every_wazo_bus_event_and_every_placeholder_fills() {
        assert_eq!(events().len(), 385);
        let mut rng = Rng::new(1);
        for event in events() {
            let publication = Publication::draw(event, None, &mut rng);
            let key = publication.routing_key();
            assert!(!key.contains(['{', '}']), "{key}");
            assert_eq!(
                key.split('.').count(),
                event.routing_key.split('.').count(),
                "values never add words: {key}"
            );
            for (name, _) in publication.headers() {
                assert!(!name.contains('{'), "{name}");
            }
        }
    }

    #[test]
    fn a_publication_for_a_user_carries_that_users_uuid() {
        let event = events()
            .iter()
            .find(|e| e.routing_key == "config.users.{user_uuid}.forwards.{forward_name}.updated")
            .expect("the forwards event is in the catalog");
        let publication = Publication::draw(event, Some(7), &mut Rng::new(2));
        let key = publication.routing_key();
        assert!(key.starts_with(&format!("config.users.{}.forwards.", user_uuid(7))));
        let header = (
            format!("user_uuid:{}", user_uuid(7)),
            HeaderValue::Bool(true),
        );
        assert!(publication.headers().contains(&header));
    }

    #[test]
    fn call_ids_are_escaped_in_keys() {
        let event = events()
            .iter()
            .find(|e| e.routing_key.contains("{call_id}"))
            .expect("an application event keys on a call id");
        let key = Publication::draw(event, None, &mut Rng::new(3)).routing_key();
        assert!(key.contains("__DOT__"), "{key}");
    }

    #[test]
    fn user_uuids_are_distinct_and_stable() {
        let uuids: std::collections::HashSet<String> = (0..USERS).map(user_uuid).collect();
        assert_eq!(uuids.len(), USERS);
        assert_eq!(user_uuid(0), user_uuid(0));
        assert_eq!(user_uuid(0).len(), 36);
    }
}
