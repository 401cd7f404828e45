//! The `warren` binary as a user runs it: it says where it listens, serves AMQP there, and on
//! SIGTERM or SIGINT closes its clients with connection.close 320 and exits 0.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use warren_tests::RawClient;
use warren_wire::Method;

/// Starts the binary on a free port and returns it with the address from its ready line.
fn start_warren() -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_warren"));
    command.args(["--bind", "127.0.0.1", "--port", "0"]);
    start(command)
}

/// Starts `command` and returns it with the address from its ready line.
fn start(mut command: Command) -> (Child, String) {
    let mut child = command
        .env("WARREN_LOG", "info")
        // Free ports for the management doors: tests run side by side.
        .env("WARREN_MANAGEMENT_PORT", "0")
        .env("WARREN_PROMETHEUS_PORT", "0")
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

/// Runs the binary with these arguments and environment, which it must refuse (exit code 2)
/// with a message holding each of `expected`.
fn assert_refused(args: &[&str], env: &[(&str, &str)], expected: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
    for text in expected {
        assert!(stderr.contains(text), "{args:?} {env:?}: {stderr}");
    }
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
    assert_refused(
        &["--port", "amqp"],
        &[],
        &[
            "invalid value 'amqp' for '--port <N>'",
            "not a port number from 0 to 65535",
        ],
    );
}

#[test]
fn a_bad_value_names_its_flag_and_what_is_accepted() {
    for (args, expected) in [
        (
            ["--max-message-size", "1GiB"],
            [
                "'--max-message-size <SIZE>'",
                "RabbitMQ's ceiling for max_message_size",
            ],
        ),
        (
            ["--memory-high-watermark", "lots"],
            [
                "'--memory-high-watermark <LIMIT>'",
                "a fraction of RAM such as 0.4, or a size such as 512MiB",
            ],
        ),
        (
            ["--channel-max", "0"],
            ["'--channel-max <N>'", "not a whole number from 1 to 65535"],
        ),
    ] {
        assert_refused(&args, &[], &expected);
    }
}

#[test]
fn the_environment_sets_what_flags_leave_unset() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_warren"));
    command
        .env("WARREN_BIND", "127.0.0.1")
        .env("WARREN_PORT", "0")
        // Empty counts as unset: the default user.
        .env("WARREN_USER", "");
    let (mut child, address) = start(command);
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    RawClient::open(&address, &[]);
    signal(&child, "TERM");
    assert!(child.wait().expect("warren exits").success());

    // A flag wins over its variable.
    assert_refused(
        &["--port", "amqp"],
        &[("WARREN_PORT", "0")],
        &["'--port <N>'"],
    );
    // A bad value from a variable names the flag and the variable.
    assert_refused(
        &[],
        &[("WARREN_MAX_HANDSHAKES", "many")],
        &[
            "invalid value 'many' for '--max-handshakes <N>'",
            "the value comes from WARREN_MAX_HANDSHAKES",
        ],
    );
}

#[test]
fn help_and_version_go_to_stdout_and_exit_0() {
    for (flag, expected) in [
        ("--help", "--memory-high-watermark <LIMIT>"),
        ("--version", concat!("warren ", env!("CARGO_PKG_VERSION"))),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_warren"))
            .arg(flag)
            .output()
            .expect("runs");
        assert!(output.status.success(), "{flag}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains(expected), "{flag}: {stdout}");
    }
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

#[test]
fn the_ready_file_names_every_door_once_they_listen() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--management-port",
            "0",
        ])
        .args(["--prometheus-port", "0", "--ready-file", "/dev/stdout"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("warren starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("a ready line");
    let ready: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    assert_eq!(ready["pid"], child.id());
    assert_eq!(ready["amqps"], serde_json::json!([]));
    let amqp = ready["amqp"][0].as_str().expect("an amqp URL");
    let address = amqp
        .strip_prefix("amqp://")
        .and_then(|rest| rest.strip_suffix('/'))
        .expect("amqp://ADDR/");
    RawClient::open(address, &[]);
    for door in ["management", "prometheus"] {
        let url = ready[door].as_str().expect("an http URL");
        let address = url.strip_prefix("http://").expect("http://ADDR");
        std::net::TcpStream::connect(address).expect("the door listens");
    }
    signal(&child, "TERM");
    assert!(child.wait().expect("exits").success());
}

#[test]
fn an_unwritable_ready_file_stops_the_broker_with_a_readable_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--no-management"])
        .args(["--no-prometheus", "--ready-file", "/nonexistent/ready.json"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot write the ready line to /nonexistent/ready.json"),
        "{stderr}"
    );
}
