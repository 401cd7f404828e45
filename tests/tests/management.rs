//! The management door of an embedded broker, over real HTTP: `Server::builder().management`
//! serves RabbitMQ's API on a free port, and what it shows and changes is what an AMQP client
//! sees (amqprs, over a real socket).

use std::net::SocketAddr;

use amqprs::channel::{BasicGetArguments, QueueDeclareArguments};
use amqprs::connection::{Connection, OpenConnectionArguments};
use base64::Engine;
use serde_json::{json, Value};

const FREE_PORT: ([u8; 4], u16) = ([127, 0, 0, 1], 0);

/// One request as guest, in a blocking thread; the status and the JSON body (Null if none).
async fn request(method: &'static str, url: String, body: Option<Value>) -> (u16, Value) {
    tokio::task::spawn_blocking(move || {
        let auth = base64::engine::general_purpose::STANDARD.encode("guest:guest");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Authorization", format!("Basic {auth}"))
            .header("Content-Type", "application/json");
        let body = body.map_or_else(String::new, |b| b.to_string());
        let mut response = agent
            .run(request.body(body).expect("a request"))
            .expect("the API answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().expect("a body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, json)
    })
    .await
    .expect("the request thread")
}

async fn start() -> (warren::ServerHandle, String) {
    let broker = warren::Server::builder()
        .bind(SocketAddr::from(FREE_PORT))
        .management(SocketAddr::from(FREE_PORT))
        .start()
        .await
        .expect("start");
    let url = broker.management_url().expect("asked for");
    (broker, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_declared_and_filled_over_http_is_the_one_amqp_reads() {
    let (broker, api) = start().await;
    let queue = format!("{api}/api/queues/%2F/http.made");
    let (status, _) = request("PUT", queue.clone(), Some(json!({"durable": true}))).await;
    assert_eq!(status, 201);
    let publish = json!({"properties": {"headers": {"name": "call_created"}},
        "routing_key": "http.made", "payload": "{\"data\":1}", "payload_encoding": "string"});
    let url = format!("{api}/api/exchanges/%2F/amq.default/publish");
    let (status, answer) = request("POST", url, Some(publish)).await;
    assert_eq!((status, answer), (200, json!({"routed": true})));
    let (_, listed) = request("GET", queue.clone(), None).await;
    assert_eq!(listed["messages_ready"], 1);
    assert_eq!(listed["durable"], true);

    let address = broker.local_addr();
    let arguments =
        OpenConnectionArguments::new(&address.ip().to_string(), address.port(), "guest", "guest");
    let connection = Connection::open(&arguments).await.expect("connect");
    let channel = connection.open_channel(None).await.expect("channel");
    let passive = QueueDeclareArguments::new("http.made")
        .passive(true)
        .finish();
    let (_, count, _) = channel
        .queue_declare(passive)
        .await
        .expect("declare")
        .expect("declare-ok");
    assert_eq!(count, 1);
    let (_, _, body) = channel
        .basic_get(BasicGetArguments::new("http.made").no_ack(true).finish())
        .await
        .expect("get")
        .expect("a message");
    assert_eq!(body, b"{\"data\":1}");

    let (_, connections) = request("GET", format!("{api}/api/connections"), None).await;
    assert_eq!(connections.as_array().map(Vec::len), Some(1));
    assert_eq!(connections[0]["user"], "guest");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_queue_is_rabbitmqs_404_and_no_management_means_no_url() {
    let (broker, api) = start().await;
    let (status, body) = request("GET", format!("{api}/api/queues/%2F/nothing"), None).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"error": "Object Not Found", "reason": "Not Found"})
    );
    broker.shutdown().await;
    let plain = warren::start_local().await.expect("start");
    assert_eq!(plain.management_url(), None);
    plain.shutdown().await;
}
