//! `amqp://user:password@host:port/vhost`, as RabbitMQ's URI spec reads it: user, password and
//! vhost are percent-decoded (`%2F` is `/`), an empty path is the vhost `/`, the port defaults
//! to 5672. The tool only connects to loopback addresses: see [`AmqpUrl::loopback_addrs`].

use std::net::SocketAddr;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpUrl {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub vhost: String,
}

impl AmqpUrl {
    pub fn parse(url: &str) -> Result<AmqpUrl> {
        let bad = |why: &str| Error::usage(format!("bad AMQP URL '{url}': {why}"));
        let rest = url
            .strip_prefix("amqp://")
            .ok_or_else(|| bad("must start with amqp:// (amqps is not supported)"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        if path.contains('?') || path.contains('/') {
            return Err(bad(
                "query strings and '/' inside the vhost are not supported",
            ));
        }
        let (credentials, host_port) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (user, password) = match credentials {
            Some(c) => match c.split_once(':') {
                Some((u, p)) => (percent_decode(u).ok_or_else(|| bad("user"))?, {
                    percent_decode(p).ok_or_else(|| bad("password"))?
                }),
                None => (percent_decode(c).ok_or_else(|| bad("user"))?, String::new()),
            },
            None => ("guest".to_owned(), "guest".to_owned()),
        };
        let (host, port) = split_host_port(host_port).ok_or_else(|| bad("host or port"))?;
        let vhost = if path.is_empty() {
            "/".to_owned()
        } else {
            percent_decode(path).ok_or_else(|| bad("vhost"))?
        };
        Ok(AmqpUrl {
            host,
            port,
            user,
            password,
            vhost,
        })
    }

    /// The URL without its password, for reports.
    pub fn redacted(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "amqp://{}@{host}:{}/{}",
            self.user,
            self.port,
            self.vhost.replace('%', "%25").replace('/', "%2F")
        )
    }

    /// Resolves the host; every address must be a loopback one, so that a load test can never
    /// be aimed at another machine by mistake.
    pub async fn loopback_addrs(&self) -> Result<Vec<SocketAddr>> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await?
            .collect();
        if addrs.is_empty() {
            return Err(Error::usage(format!("{} resolves to nothing", self.host)));
        }
        if let Some(remote) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            return Err(Error::usage(format!(
                "refusing to load-test {remote}: warren-bench only targets loopback addresses"
            )));
        }
        Ok(addrs)
    }
}

fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 5672,
    };
    let host = if host.is_empty() { "localhost" } else { host };
    Some((host.to_owned(), port))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_default_url() {
        let url = AmqpUrl::parse("amqp://guest:guest@127.0.0.1:5672/%2F").expect("valid");
        assert_eq!(url.host, "127.0.0.1");
        assert_eq!(url.port, 5672);
        assert_eq!(url.user, "guest");
        assert_eq!(url.password, "guest");
        assert_eq!(url.vhost, "/");
        assert_eq!(url.redacted(), "amqp://guest@127.0.0.1:5672/%2F");
    }

    #[test]
    fn defaults_and_decoding() {
        let url = AmqpUrl::parse("amqp://localhost").expect("valid");
        assert_eq!((url.port, url.vhost.as_str()), (5672, "/"));
        assert_eq!(
            (url.user.as_str(), url.password.as_str()),
            ("guest", "guest")
        );
        let url = AmqpUrl::parse("amqp://a%40b:p%3Aw@[::1]:5673/wazo").expect("valid");
        assert_eq!((url.user.as_str(), url.password.as_str()), ("a@b", "p:w"));
        assert_eq!((url.host.as_str(), url.port), ("::1", 5673));
        assert_eq!(url.vhost, "wazo");
    }

    #[test]
    fn rejects_what_it_cannot_use() {
        assert!(AmqpUrl::parse("amqps://localhost").is_err());
        assert!(AmqpUrl::parse("amqp://localhost:notaport/").is_err());
        assert!(AmqpUrl::parse("amqp://localhost/%zz").is_err());
    }
}
