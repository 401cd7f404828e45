//! The `warren-bench` binary against a Warren embedded in the test process: runs finish by
//! themselves, print one JSON line, and find nothing lost, duplicated or reordered; the soak
//! survives its chaos loop; the memory and start-up scenarios report their figures.

use std::process::Command;

/// Runs `warren-bench ARGS --url URL` and returns its stdout, asserting success.
async fn bench(url: String, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let spawn_args = args.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_warren-bench"))
            .args(&spawn_args)
            .args(["--url", &url])
            .output()
    })
    .await
    .expect("the task runs")
    .expect("warren-bench starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "warren-bench {args:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    stdout
}

fn field<'a>(json: &'a str, name: &str) -> &'a str {
    let key = format!("\"{name}\":");
    let start = json.find(&key).map(|i| i + key.len()).expect(name);
    let rest = &json[start..];
    &rest[..rest.find([',', '}']).unwrap_or(rest.len())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_for_a_second_loses_nothing() {
    let broker = warren::start_local().await.expect("the broker starts");
    let json = bench(
        broker.amqp_url(),
        &[
            "throughput",
            "--duration",
            "1",
            "--publishers",
            "2",
            "--confirm",
            "1000",
            "--max-messages",
            "300000",
        ],
    )
    .await;
    assert_eq!(field(&json, "ok"), "true", "{json}");
    assert_eq!(field(&json, "lost"), "0", "{json}");
    assert_eq!(field(&json, "duplicated"), "0", "{json}");
    assert_eq!(field(&json, "reordered"), "0", "{json}");
    assert_eq!(field(&json, "unconfirmed"), "0", "{json}");
    let published: u64 = field(&json, "published").parse().expect("a count");
    assert!(published > 0, "{json}");
    assert_eq!(
        field(&json, "delivered"),
        field(&json, "published"),
        "{json}"
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_bindings_and_churn_pass_their_checks() {
    let broker = warren::start_local().await.expect("the broker starts");
    let url = broker.amqp_url();
    let fanout = bench(
        url.clone(),
        &[
            "fanout",
            "--queues",
            "10",
            "--duration",
            "0.5",
            "--max-messages",
            "20000",
        ],
    )
    .await;
    assert_eq!(field(&fanout, "lost"), "0", "{fanout}");
    let published: u64 = field(&fanout, "published").parse().expect("a count");
    assert_eq!(
        field(&fanout, "delivered"),
        (published * 10).to_string(),
        "{fanout}"
    );
    let bindings = bench(
        url.clone(),
        &[
            "bindings",
            "--queues",
            "20",
            "--bindings",
            "12",
            "--duration",
            "0.5",
            "--max-messages",
            "20000",
            "--autoack",
        ],
    )
    .await;
    assert_eq!(field(&bindings, "misrouted"), "0", "{bindings}");
    assert_eq!(field(&bindings, "lost"), "0", "{bindings}");
    let headers = bench(
        url.clone(),
        &[
            "throughput",
            "--exchange-type",
            "headers",
            "--duration",
            "0.3",
            "--max-messages",
            "5000",
        ],
    )
    .await;
    assert_eq!(field(&headers, "lost"), "0", "{headers}");
    let churn = bench(url, &["churn", "--duration", "0.3", "--channels", "2"]).await;
    assert_eq!(field(&churn, "ok"), "true", "{churn}");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_serves_consecutive_runs() {
    let sink = warren_bench::sink::start(0).await.expect("the sink starts");
    for _ in 0..2 {
        let json = bench(
            sink.url(),
            &[
                "throughput",
                "--duration",
                "0.3",
                "--confirm",
                "100",
                "--max-messages",
                "20000",
            ],
        )
        .await;
        assert_eq!(field(&json, "lost"), "0", "{json}");
    }
    sink.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_chaos_loses_nothing_confirmed() {
    let broker = warren::start_local().await.expect("the broker starts");
    let json = bench(
        broker.amqp_url(),
        &[
            "soak",
            "--duration",
            "3",
            "--connections",
            "6",
            "--channels",
            "2",
            "--queues",
            "2",
            "--rate",
            "3000",
            "--kill-interval",
            "0.1",
        ],
    )
    .await;
    assert_eq!(field(&json, "ok"), "true", "{json}");
    for zero in [
        "lost",
        "lost_after_delivery",
        "duplicated_without_redelivered",
        "unexpected",
        "broker_failures",
    ] {
        assert_eq!(field(&json, zero), "0", "{zero}: {json}");
    }
    let kills: u64 = field(&json, "total").parse().expect("a count");
    assert!(kills > 5, "the chaos loop killed connections: {json}");
    let confirmed: u64 = field(&json, "confirmed").parse().expect("a count");
    assert!(confirmed > 1000, "{json}");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_scenarios_measure_the_broker_process() {
    // The broker runs in this process: its RSS is ours.
    let broker = warren::start_local().await.expect("the broker starts");
    let url = broker.amqp_url();
    let pid = std::process::id().to_string();
    let pid = pid.as_str();
    let idle = bench(
        url.clone(),
        &[
            "idle-connections",
            "--connections",
            "100",
            "--channels",
            "1",
            "--broker-pid",
            pid,
        ],
    )
    .await;
    assert_eq!(field(&idle, "opened"), "100", "{idle}");
    assert_ne!(field(&idle, "bytes_per_connection"), "null", "{idle}");
    let backlog = bench(
        url,
        &["backlog", "--max-messages", "20000", "--broker-pid", pid],
    )
    .await;
    assert_eq!(field(&backlog, "delivered"), "20000", "{backlog}");
    assert_eq!(field(&backlog, "lost"), "0", "{backlog}");
    assert_ne!(field(&backlog, "bytes_per_message"), "null", "{backlog}");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_counts_what_nobody_consumes() {
    // Without --broker-pid: the counts are checked, no RSS is read (nor waited for).
    let broker = warren::start_local().await.expect("the broker starts");
    let json = bench(
        broker.amqp_url(),
        &[
            "retention",
            "--max-messages",
            "20000",
            "--retain-every",
            "10",
        ],
    )
    .await;
    assert_eq!(field(&json, "ok"), "true", "{json}");
    assert_eq!(field(&json, "retained"), "2000", "{json}");
    assert_eq!(field(&json, "retained_expected"), "2000", "{json}");
    assert_eq!(field(&json, "delivered"), "18000", "{json}");
    assert_eq!(field(&json, "lost"), "0", "{json}");
    assert_eq!(field(&json, "bytes_per_retained"), "null", "{json}");
    broker.shutdown().await;
}

#[test]
fn startup_times_a_broker_command() {
    // The tool's own sink stands in for a broker: it listens and speaks the handshake.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
        .to_string();
    let exe = env!("CARGO_BIN_EXE_warren-bench");
    let output = Command::new(exe)
        .args(["startup", "--url"])
        .arg(format!("amqp://guest:guest@127.0.0.1:{port}/%2F"))
        .args(["--", exe, "sink", "--port", &port])
        .output()
        .expect("warren-bench starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let accept: f64 = field(&stdout, "accept_ms").parse().expect("ms");
    let ready: f64 = field(&stdout, "amqp_ready_ms").parse().expect("ms");
    assert!(accept > 0.0 && ready >= accept, "{stdout}");
    assert_ne!(field(&stdout, "idle_rss_kib"), "null", "{stdout}");
}
