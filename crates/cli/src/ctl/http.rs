//! The management API over plain HTTP (ureq): one request per call, basic auth, JSON bodies.
//! Transport failures and refused credentials become the failures a person can act on.

use std::time::Duration;

use base64::Engine;
use serde_json::Value as Json;

use super::failure::{Failure, TEMPFAIL, UNAVAILABLE};

/// The largest answer read (a definitions export of a large broker).
const MAX_BODY: u64 = 1 << 30;

pub struct Api {
    agent: ureq::Agent,
    base: String,
    username: String,
    authorization: String,
    timeout: Option<Duration>,
}

/// An answer of the API: its status and its body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON (Null when empty or not JSON).
    pub fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or(Json::Null)
    }

    /// The `reason` of RabbitMQ's `{"error": ..., "reason": ...}`, as text.
    pub fn reason(&self) -> String {
        match self.json().get("reason") {
            Some(Json::String(reason)) => reason.clone(),
            Some(other) => other.to_string(),
            None => format!("HTTP {}: {}", self.status, self.body.trim()),
        }
    }

    /// The answer of a request that must succeed: anything else is the API's reason.
    pub fn expect_success(self, code: u8) -> Result<Reply, Failure> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(Failure::error(code, self.reason()))
        }
    }
}

/// A path segment as RabbitMQ's API spells it: `/` is `%2F`, and so is every other reserved
/// character.
pub fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Api {
    pub fn new(base: &str, username: &str, password: &str, timeout: Option<Duration>) -> Api {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(timeout)
            .timeout_connect(Some(Duration::from_secs(10)))
            .build()
            .into();
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        Api {
            agent,
            base: base.trim_end_matches('/').to_string(),
            username: username.to_string(),
            authorization: format!("Basic {credentials}"),
            timeout,
        }
    }

    pub fn get(&self, path: &str) -> Result<Reply, Failure> {
        self.send("GET", path, None, &[])
    }

    pub fn put(&self, path: &str, body: &Json) -> Result<Reply, Failure> {
        self.send("PUT", path, Some(body.to_string()), &[])
    }

    pub fn post(&self, path: &str, body: String) -> Result<Reply, Failure> {
        self.send("POST", path, Some(body), &[])
    }

    pub fn delete(&self, path: &str, headers: &[(&str, &str)]) -> Result<Reply, Failure> {
        self.send("DELETE", path, None, headers)
    }

    /// A GET whose 404 means "nothing there" (a list in a vhost that does not exist, as
    /// rabbitmqctl lists nothing there).
    pub fn list(&self, path: &str) -> Result<Vec<Json>, Failure> {
        let reply = self.get(path)?;
        if reply.status == 404 {
            return Ok(Vec::new());
        }
        match reply.expect_success(super::failure::SOFTWARE)?.json() {
            Json::Array(items) => Ok(items),
            other => Err(Failure::error(
                super::failure::SOFTWARE,
                format!("the management API at {} answered {path} with something else than a list: {other}", self.base),
            )),
        }
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, Failure> {
        let url = format!("{}{path}", self.base);
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Authorization", &self.authorization);
        if body.is_some() {
            request = request.header("Content-Type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(body.unwrap_or_default()).map_err(|e| {
            Failure::error(
                super::failure::USAGE,
                format!("cannot make this request to {url}: {e}"),
            )
        })?;
        let mut response = self.agent.run(request).map_err(|e| self.unreachable(&e))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| self.unreachable(&e))?;
        let reply = Reply { status, body };
        if status == 401 {
            return Err(Failure::new(
                UNAVAILABLE,
                format!(
                    "Error: Warren's management API at {} refused user '{}' ({}): give the \
                     name and password of a user tagged administrator with --username and \
                     --password (WARREN_CTL_USERNAME, WARREN_CTL_PASSWORD)",
                    self.base,
                    self.username,
                    reply.reason()
                ),
            ));
        }
        Ok(reply)
    }

    fn bad_url(&self, why: &str) -> Failure {
        Failure::new(
            UNAVAILABLE,
            format!(
                "Error: {} is not a management API URL ({why}): give one such as \
                 http://127.0.0.1:15672 with --management-url (WARREN_MANAGEMENT_URL)",
                self.base
            ),
        )
    }

    fn unreachable(&self, error: &ureq::Error) -> Failure {
        let why = match error {
            ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                "connection refused".to_string()
            }
            ureq::Error::Timeout(_) => {
                let after = self
                    .timeout
                    .map_or_else(String::new, |t| format!(" after {} s", t.as_secs()));
                return Failure::new(
                    TEMPFAIL,
                    format!(
                        "Error: Warren's management API at {} did not answer{after}: give it \
                         more time with --timeout, or see whether warren is overloaded",
                        self.base
                    ),
                );
            }
            ureq::Error::HostNotFound => "host not found".to_string(),
            ureq::Error::BadUri(why) => return self.bad_url(why),
            ureq::Error::Http(e) => return self.bad_url(&e.to_string()),
            other => other.to_string(),
        };
        Failure::new(
            UNAVAILABLE,
            format!(
                "Error: cannot reach Warren's management API at {} ({why}): is warren running \
                 with the management plane on? (--management-port; this command's \
                 --management-url, WARREN_MANAGEMENT_URL)",
                self.base
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_percent_encoded_as_rabbitmq_spells_them() {
        assert_eq!(segment("/"), "%2F");
        assert_eq!(segment("a b/c%d"), "a%20b%2Fc%25d");
        assert_eq!(segment("q.é"), "q.%C3%A9");
    }

    #[test]
    fn an_unreachable_api_says_what_to_do() {
        // Port 9 (discard) is closed on loopback on any sane machine.
        let api = Api::new("http://127.0.0.1:9", "guest", "guest", None);
        let failure = api.get("/api/overview").expect_err("nothing listens");
        assert_eq!(failure.code, UNAVAILABLE);
        assert!(
            failure.text.contains(
                "cannot reach Warren's management API at http://127.0.0.1:9 (connection refused)"
            ),
            "{failure}"
        );
        assert!(failure.text.contains("--management-port"), "{failure}");
    }
}
