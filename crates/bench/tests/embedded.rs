//! The `warren-bench` binary against a Warren embedded in the test process: runs finish by
//! themselves, print one JSON line, and find nothing lost, duplicated or reordered.

use std::process::Command;

/// Runs `warren-bench ARGS --url URL` and returns its stdout, asserting success.
async fn bench(url: String, args: &'static [&'static str]) -> String {
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_warren-bench"))
            .args(args)
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
