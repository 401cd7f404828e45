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

/// A blocking AMQP client over a plain socket, logged in as guest on vhost `/`.
pub struct RawClient {
    stream: TcpStream,
    input: BytesMut,
}

impl RawClient {
    /// Connects and completes the handshake, announcing `capabilities` as true.
    pub fn open(address: &str, capabilities: &[&'static str]) -> RawClient {
        let stream = TcpStream::connect(address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
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
        assert!(matches!(client.next_method(), Method::ConnectionOpenOk(_)));
        client
    }

    pub fn send(&mut self, channel: u16, method: Method) {
        let mut out = BytesMut::new();
        encode_method_frame(channel, &method, &mut out);
        self.stream.write_all(&out).expect("write");
    }

    /// Sends a method with content (basic.publish) and its body.
    pub fn send_with_body(&mut self, channel: u16, method: Method, body: &'static [u8]) {
        let mut out = BytesMut::new();
        encode_method_frame(channel, &method, &mut out);
        let header = ContentHeader::new(60, body.len() as u64, Default::default());
        encode_content(
            channel,
            &header,
            &Bytes::from_static(body),
            131_072,
            &mut out,
        );
        self.stream.write_all(&out).expect("write");
    }

    /// The next method frame from the broker, skipping content and heartbeat frames.
    pub fn next_method(&mut self) -> Method {
        loop {
            if let Some(frame) = decode_frame(&mut self.input, 0).expect("valid frames") {
                if let Frame::Method { method, .. } = frame {
                    return method;
                }
                continue;
            }
            let mut buf = [0u8; 4096];
            let n = self.stream.read(&mut buf).expect("read");
            assert!(
                n > 0,
                "the broker closed the socket before sending a method"
            );
            self.input.extend_from_slice(&buf[..n]);
        }
    }
}
