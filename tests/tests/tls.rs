//! amqps: a broker with a TLS listener, a certificate made for the test, and a raw AMQP
//! client over rustls doing the handshake and a publish/get round trip.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use warren_server::{Server, TlsConfig};
use warren_tests::{closed_without_a_word, RawClient};
use warren_wire::{BasicGet, BasicPublish, ChannelOpen, ConnectionClose, Method, QueueDeclare};

/// A self-signed certificate for `localhost`, written as PEM files; returns the paths and
/// the certificate (DER) for the client to trust.
fn self_signed(dir: &std::path::Path) -> (PathBuf, PathBuf, Vec<u8>) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.pem()).expect("write the certificate");
    std::fs::write(&key_path, key_pair.serialize_pem()).expect("write the key");
    (cert_path, key_path, cert.der().to_vec())
}

fn tls_client(
    address: SocketAddr,
    trusted: Vec<u8>,
) -> RawClient<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(trusted.into())
        .expect("trust the test certificate");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("server name");
    let connection = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let socket = TcpStream::connect(address).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    RawClient::open_over(rustls::StreamOwned::new(connection, socket), &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_publishes_and_gets_over_tls() {
    let dir = std::env::temp_dir().join(format!("warren-tls-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let (cert, key, trusted) = self_signed(&dir);
    let tls = TlsConfig::from_pem_files(&cert, &key).expect("a usable certificate and key");
    let broker = Server::builder()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .bind_tls(SocketAddr::from(([127, 0, 0, 1], 0)))
        .tls(tls)
        .start()
        .await
        .expect("start");
    let address = broker.tls_local_addrs()[0];
    assert_ne!(address, broker.local_addr(), "amqps has its own listener");

    let (body, closed) = tokio::task::spawn_blocking(move || {
        let mut client = tls_client(address, trusted);
        client.send(1, ChannelOpen::default().into());
        assert!(matches!(client.next_method(), Method::ChannelOpenOk(_)));
        let declare = QueueDeclare {
            exclusive: true,
            ..Default::default()
        };
        client.send(1, declare.into());
        let Method::QueueDeclareOk(ok) = client.next_method() else {
            panic!("declare-ok expected")
        };
        let publish = BasicPublish {
            routing_key: ok.queue.clone(),
            ..Default::default()
        };
        client.send_with_body(1, publish.clone().into(), b"over TLS");
        // Larger than the socket buffers: the broker's writes and flushes must go on in parts.
        let large: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
        client.send_with_body(1, publish.into(), &large);
        let mut get = || {
            let get = BasicGet {
                queue: ok.queue.clone(),
                no_ack: true,
            };
            client.send(1, get.into());
            assert!(matches!(client.next_method(), Method::BasicGetOk(_)));
            client.next_body()
        };
        let body = get();
        assert_eq!(get(), large, "a 4 MiB body comes back whole over TLS");
        client.send(0, ConnectionClose::default().into());
        let closed = matches!(client.next_method(), Method::ConnectionCloseOk(_));
        (body, closed)
    })
    .await
    .expect("client thread");
    assert_eq!(&body[..], b"over TLS");
    assert!(closed, "connection.close is answered over TLS");
    broker.shutdown().await;
    std::fs::remove_dir_all(dir).ok();
}

/// A connection waiting for its TLS handshake holds a place among the connections in the
/// handshake: beyond `max_handshakes`, newer ones are closed at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_tls_handshake_counts_against_max_handshakes() {
    let dir = std::env::temp_dir().join(format!("warren-tls-limit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let (cert, key, _) = self_signed(&dir);
    let broker = Server::builder()
        .bind_tls(SocketAddr::from(([127, 0, 0, 1], 0)))
        .tls(TlsConfig::from_pem_files(&cert, &key).expect("certificate"))
        .max_handshakes(1)
        .start()
        .await
        .expect("start");
    let address = broker.tls_local_addrs()[0];
    let newest_closed = tokio::task::spawn_blocking(move || {
        // Never sends its ClientHello: it holds the one place.
        let _idle = TcpStream::connect(address).expect("connect");
        let newest = TcpStream::connect(address).expect("connect");
        newest
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        closed_without_a_word(newest)
    })
    .await
    .expect("client thread");
    assert!(newest_closed, "the connection beyond the limit is closed");
    broker.shutdown().await;
    std::fs::remove_dir_all(dir).ok();
}
