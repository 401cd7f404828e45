//! The `warren` binary as a user runs it: it says where it listens, serves AMQP there, and on
//! SIGTERM or SIGINT closes its clients with connection.close 320 and exits 0.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use warren_tests::RawClient;
use warren_wire::Method;

/// Starts the binary on a free port and returns it with the address from its ready line.
fn start_warren() -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["--bind", "127.0.0.1", "--port", "0"])
        .env("WARREN_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("warren starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("warren logs a ready line")
            .expect("readable log");
        if let Some(at) = line.find("amqp://guest@") {
            let rest = &line[at + "amqp://guest@".len()..];
            break rest[..rest.find('/').expect("address ends with /")].to_string();
        }
    };
    // Keep draining the log so the broker never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, address)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn assert_closes_clients_and_exits_0(signal_name: &str) {
    let (mut child, address) = start_warren();
    let mut client = RawClient::open(&address, &[]);
    signal(&child, signal_name);
    let Method::ConnectionClose(close) = client.next_method() else {
        panic!("expected connection.close")
    };
    assert_eq!(close.reply_code, 320);
    assert!(
        close
            .reply_text
            .to_string()
            .starts_with("CONNECTION_FORCED - "),
        "{}",
        close.reply_text
    );
    client.send(0, warren_wire::ConnectionCloseOk::default().into());
    let status = child.wait().expect("warren exits");
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn sigterm_closes_clients_with_320_and_exits_0() {
    assert_closes_clients_and_exits_0("TERM");
}

#[test]
fn sigint_closes_clients_with_320_and_exits_0() {
    assert_closes_clients_and_exits_0("INT");
}

#[test]
fn a_bad_port_is_refused_with_a_readable_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["--port", "amqp"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--port: 'amqp' is not a port number"),
        "{stderr}"
    );
}

#[test]
fn a_bad_definitions_file_is_refused_with_a_readable_message() {
    let dir = std::env::temp_dir().join(format!("warren-binary-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("definitions.json");
    std::fs::write(&file, r#"{"users": [{"name": "u"}]}"#).expect("written");
    for (path, expected) in [
        (dir.join("missing.json"), "cannot read the definitions file"),
        (
            file.clone(),
            "user 'u': has neither password_hash nor password",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_warren"))
            .args(["--bind", "127.0.0.1", "--port", "0", "--definitions"])
            .arg(&path)
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).expect("cleaned up");
}

#[test]
fn hash_password_prints_a_rabbitmq_password_hash() {
    let output = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["hash-password", "s3cret"])
        .output()
        .expect("runs");
    assert!(output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout);
    let hash = warren_broker::auth::PasswordHash::from_base64(
        warren_broker::auth::HashingAlgorithm::Sha256,
        printed.trim(),
    )
    .expect("a sha256 password_hash");
    assert!(hash.verify(b"s3cret"));
}
