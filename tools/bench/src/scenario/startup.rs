//! `startup`: starts the broker command given after `--`, and measures from just before the
//! spawn until `--url`'s port accepts a TCP connection (polled every [`POLL`]) and until an
//! AMQP handshake there completes; then, with no connection open, the broker's idle RSS after
//! [`IDLE`]. The broker is the spawned process, or the pid in `--pid-file` (RabbitMQ's
//! `rabbitmq-server` is a shell script that runs the Erlang VM as its child). It is stopped
//! with SIGTERM at the end (and killed if it has not exited within [`STOP_TIMEOUT`]).
//! With `--http-port`, the same clock also times the first `200` answer to
//! `GET /api/overview` on that port (the management API), polled beside the AMQP port.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::args::Options;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::procfs::memory_kib;
use crate::report::{self, Json};

const POLL: Duration = Duration::from_millis(1);
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the broker sits idle before its RSS is read.
const IDLE: Duration = Duration::from_secs(1);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn run(o: &Options) -> Result<(String, bool)> {
    let addrs = o.url.loopback_addrs().await?;
    if let Ok(taken) = TcpStream::connect(&addrs[..]).await {
        drop(taken);
        return Err(Error::usage(format!(
            "something already listens at {}: choose a free port",
            o.url.redacted()
        )));
    }
    let (program, args) = o
        .command
        .split_first()
        .ok_or_else(|| Error::usage("startup needs the broker's command after `--`"))?;
    let began = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::usage(format!("cannot start {program}: {e}")))?;
    let result = measure(o, &addrs, &mut child, began).await;
    stop(&mut child).await;
    result
}

async fn measure(
    o: &Options,
    addrs: &[std::net::SocketAddr],
    child: &mut Child,
    began: Instant,
) -> Result<(String, bool)> {
    let http = o.http_port.map(|port| {
        let credentials = base64(format!("{}:{}", o.url.user, o.url.password).as_bytes());
        (
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            credentials,
        )
    });
    let mut accepted = None;
    let mut http_ok = None;
    let accepted = loop {
        if accepted.is_none() && TcpStream::connect(addrs).await.is_ok() {
            accepted = Some(began.elapsed());
        }
        if let (Some((addr, credentials)), None) = (&http, http_ok) {
            if overview_ok(*addr, credentials).await {
                http_ok = Some(began.elapsed());
            }
        }
        if let (Some(accepted), true) = (accepted, http.is_none() || http_ok.is_some()) {
            break accepted;
        }
        if let Some(status) = child.try_wait()? {
            return Err(Error::protocol(format!(
                "the broker exited ({status}) before accepting connections"
            )));
        }
        if began.elapsed() > START_TIMEOUT {
            return Err(Error::protocol(
                "the broker did not accept connections (or answer /api/overview) within 120 s",
            ));
        }
        tokio::time::sleep(POLL).await;
    };
    let client = Client::connect(&o.url, "warren-bench startup").await?;
    let ready = began.elapsed();
    client.close().await?;
    let pid = match &o.pid_file {
        Some(path) => read_pid(path).await?,
        None => child.id(),
    };
    let rss_ready = memory_kib(Some(pid)).map(|(rss, _)| rss);
    tokio::time::sleep(IDLE).await;
    let idle = memory_kib(Some(pid));

    let mut params = Json::default();
    params.strings("command", &o.command);
    let mut j = report::header(o);
    j.object("params", params)
        .num("accept_ms", accepted.as_secs_f64() * 1e3, 2)
        .num("amqp_ready_ms", ready.as_secs_f64() * 1e3, 2)
        .opt_num("http_ok_ms", http_ok.map(|t| t.as_secs_f64() * 1e3), 2)
        .int("broker_pid", u64::from(pid))
        .opt_int("rss_at_ready_kib", rss_ready)
        .opt_int("idle_rss_kib", idle.map(|m| m.0))
        .opt_int("vm_hwm_kib", idle.map(|m| m.1))
        .bool("ok", true)
        .strings("failures", &[]);
    Ok((j.finish(), true))
}

/// Whether `GET /api/overview` at `addr` answers 200 (within a second).
async fn overview_ok(addr: std::net::SocketAddr, credentials: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let request = format!(
            "GET /api/overview HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {credentials}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        Some(answer.starts_with(b"HTTP/1.1 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), attempt).await,
        Ok(Some(true))
    )
}

/// Standard base64 with padding, for a basic-auth header.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The pid in `path`, once the broker has written it (at most 10 s).
async fn read_pid(path: &str) -> Result<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse() {
                return Ok(pid);
            }
        }
        if Instant::now() > deadline {
            return Err(Error::protocol(format!("no pid in {path} within 10 s")));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SIGTERM (through kill(1): this crate has no unsafe code for libc), then SIGKILL if the
/// broker has not exited in time.
async fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_pads_as_basic_auth_needs() {
        assert_eq!(super::base64(b"guest:guest"), "Z3Vlc3Q6Z3Vlc3Q=");
        assert_eq!(super::base64(b"ab"), "YWI=");
        assert_eq!(super::base64(b"abc"), "YWJj");
    }
}
