//! Test support shared by the integration tests of the workspace: a raw AMQP client that
//! speaks through Warren's own codec, for what client libraries do not let a test observe
//! (connection.blocked, the exact close a signal produces).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use warren_wire::{
    decode_frame, encode_content, encode_method_frame, ConnectionOpen, ConnectionStartOk,
    ConnectionTuneOk, ContentHeader, FieldTable, FieldValue, Frame, Method, PROTOCOL_HEADER,
};

/// A blocking AMQP client over a socket (plain, or any other byte stream such as TLS),
/// logged in as guest on vhost `/`.
pub struct RawClient<S = TcpStream> {
    stream: S,
    input: BytesMut,
}

/// A TCP connection to `address`, with a read timeout so that a silent broker fails the test.
pub fn connect(address: &str) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
}

/// Whether the broker closes `stream` without sending a byte: end of stream or a reset, not
/// a timeout.
pub fn closed_without_a_word(mut stream: TcpStream) -> bool {
    match stream.read(&mut [0u8; 1]) {
        Ok(n) => n == 0,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

impl RawClient {
    /// Connects and completes the handshake, announcing `capabilities` as true.
    pub fn open(address: &str, capabilities: &[&'static str]) -> RawClient {
        RawClient::open_over(connect(address), capabilities)
    }
}

impl<S: Read + Write> RawClient<S> {
    /// Completes the handshake over `stream`, announcing `capabilities` as true.
    pub fn open_over(stream: S, capabilities: &[&'static str]) -> RawClient<S> {
        match RawClient::try_open_over(stream, capabilities) {
            Ok(client) => client,
            Err(reply) => panic!("expected connection.open-ok, got {reply:?}"),
        }
    }

    /// The handshake over `stream`; Err holds what the broker answered to `connection.open`
    /// when it was not open-ok (a refusal).
    pub fn try_open_over(
        stream: S,
        capabilities: &[&'static str],
    ) -> Result<RawClient<S>, Box<Method>> {
        let mut client = RawClient {
            stream,
            input: BytesMut::new(),
        };
        client.stream.write_all(PROTOCOL_HEADER).expect("header");
        assert!(matches!(client.next_method(), Method::ConnectionStart(_)));
        let mut caps = FieldTable::new();
        for &capability in capabilities {
            caps.insert(capability, FieldValue::Bool(true));
        }
        let mut client_properties = FieldTable::new();
        client_properties.insert("capabilities", FieldValue::Table(caps));
        client.send(
            0,
            ConnectionStartOk {
                client_properties,
                mechanism: "PLAIN".into(),
                response: Bytes::from_static(b"\0guest\0guest"),
                locale: "en_US".into(),
            }
            .into(),
        );
        let Method::ConnectionTune(tune) = client.next_method() else {
            panic!("expected connection.tune")
        };
        let tune_ok = ConnectionTuneOk {
            channel_max: tune.channel_max,
            frame_max: tune.frame_max,
            heartbeat: 0,
        };
        client.send(0, tune_ok.into());
        client.send(
            0,
            ConnectionOpen {
                virtual_host: "/".into(),
            }
            .into(),
        );
        match client.next_method() {
            Method::ConnectionOpenOk(_) => Ok(client),
            reply => Err(Box::new(reply)),
        }
    }

    pub fn send(&mut self, channel: u16, method: Method) {
        let mut out = BytesMut::new();
        encode_method_frame(channel, &method, &mut out);
        self.stream.write_all(&out).expect("write");
    }

    /// Sends a method with content (basic.publish) and its body.
    pub fn send_with_body(&mut self, channel: u16, method: Method, body: &[u8]) {
        let mut out = BytesMut::new();
        encode_method_frame(channel, &method, &mut out);
        let header = ContentHeader::new(60, body.len() as u64, Default::default());
        encode_content(
            channel,
            &header,
            &Bytes::copy_from_slice(body),
            131_072,
            &mut out,
        );
        self.stream.write_all(&out).expect("write");
    }

    /// The next method frame from the broker, skipping content and heartbeat frames.
    pub fn next_method(&mut self) -> Method {
        loop {
            if let Frame::Method { method, .. } = self.next_frame() {
                return method;
            }
        }
    }

    /// The body of the content that follows a basic.deliver or basic.get-ok.
    pub fn next_body(&mut self) -> Bytes {
        let size = loop {
            match self.next_frame() {
                Frame::Header { header, .. } => break header.body_size,
                Frame::Heartbeat { .. } => {}
                other => panic!("expected a content header, got {other:?}"),
            }
        };
        let mut body = BytesMut::new();
        while (body.len() as u64) < size {
            match self.next_frame() {
                Frame::Body { payload, .. } => body.extend_from_slice(&payload),
                other => panic!("expected a content body, got {other:?}"),
            }
        }
        body.freeze()
    }

    fn next_frame(&mut self) -> Frame {
        loop {
            if let Some(frame) = decode_frame(&mut self.input, 0).expect("valid frames") {
                return frame;
            }
            let mut buf = [0u8; 4096];
            let n = self.stream.read(&mut buf).expect("read");
            assert!(n > 0, "the broker closed the socket before sending a frame");
            self.input.extend_from_slice(&buf[..n]);
        }
    }
}
