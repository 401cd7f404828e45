//! A minimal AMQP 0-9-1 client on `warren-wire` and a tokio socket: just what a load tool
//! needs. The handshake (PLAIN, heartbeat 0), request/reply methods for setup (declare, bind,
//! qos, consume, confirm.select), and, for the hot paths, direct access to a large read buffer
//! ([`FrameReader`]), to an output buffer written with plain `write` calls (so that the
//! scenario loops can `select!` between reading and writing without losing bytes), and to
//! pre-encoded publish frames ([`PublishTemplate`]).

use std::io;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use warren_wire::{
    decode_frame, encode_content, encode_method_frame, BasicConsume, BasicProperties, BasicPublish,
    BasicQos, ChannelClose, ChannelCloseOk, ChannelOpen, ConfirmSelect, ConnectionClose,
    ConnectionCloseOk, ConnectionOpen, ConnectionStartOk, ConnectionTuneOk, ContentHeader,
    ExchangeDeclare, FieldTable, FieldValue, Frame, Method, QueueBind, QueueDeclare, QueueDelete,
    ShortStr, PROTOCOL_HEADER,
};

use crate::error::{Error, Result};
use crate::url::AmqpUrl;

/// Read buffer: a read returns up to this much, hundreds of messages.
pub const READ_BUFFER: usize = 256 * 1024;
/// The largest frame we accept, RabbitMQ's default.
const FRAME_MAX: u32 = 131_072;
/// The channel every scenario connection uses.
pub const CHANNEL: u16 = 1;
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest wait for the handshake or for the reply to a setup method: a broker that does
/// not answer ends the run instead of hanging it.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
const BASIC_CLASS: u16 = 60;

/// Makes a short string of a name built at run time.
pub fn short(s: impl Into<String>) -> Result<ShortStr> {
    ShortStr::try_from(s.into()).map_err(|s| Error::usage(format!("'{s}' is over 255 bytes")))
}

/// The read half of a connection and its buffer.
pub struct FrameReader {
    half: OwnedReadHalf,
    buf: BytesMut,
    frame_max: u32,
    /// How much room a read gets: starts small (connections that only do a handshake, as in
    /// `churn`, stay cheap) and doubles up to [`READ_BUFFER`] while reads fill it.
    room: usize,
}

/// What [`FrameReader::next_lean`] returns: frames, except that content headers are reduced
/// to their body size.
// Matched and taken apart at once, like `Frame` itself: boxing would allocate per frame.
#[allow(clippy::large_enum_variant)]
pub enum LeanFrame {
    Frame(Frame),
    Header { channel: u16, body_size: u64 },
}

impl LeanFrame {
    pub fn channel(&self) -> u16 {
        match self {
            LeanFrame::Frame(frame) => frame.channel(),
            LeanFrame::Header { channel, .. } => *channel,
        }
    }
}

const FRAME_HEADER_TYPE: u8 = 2;
const FRAME_END: u8 = 0xCE;

impl FrameReader {
    fn new(half: OwnedReadHalf) -> FrameReader {
        FrameReader {
            half,
            buf: BytesMut::new(),
            frame_max: FRAME_MAX,
            room: 16 * 1024,
        }
    }

    /// Reads what the socket has (at least one byte). The broker closing the socket is an
    /// error. Cancel-safe: usable in `select!`.
    pub async fn fill(&mut self) -> Result<()> {
        if self.buf.capacity() - self.buf.len() < self.room / 4 {
            self.buf.reserve(self.room);
        }
        let room = self.buf.capacity() - self.buf.len();
        let n = self.half.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the broker closed the socket",
            )));
        }
        if n == room && self.room < READ_BUFFER {
            self.room *= 2;
        }
        Ok(())
    }

    /// The next whole frame already buffered.
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        decode_frame(&mut self.buf, self.frame_max)
            .map_err(|e| Error::protocol(format!("undecodable frame from the broker: {e}")))
    }

    /// Like [`FrameReader::next_frame`], but a content header frame is not decoded: only its
    /// body size is read (a consumer that checks bodies needs no properties, and decoding a
    /// header table per message would be the costliest part of its work).
    pub fn next_lean(&mut self) -> Result<Option<LeanFrame>> {
        next_lean(&mut self.buf, self.frame_max)
    }

    /// The next frame, reading as needed.
    pub async fn frame(&mut self) -> Result<Frame> {
        loop {
            if let Some(frame) = self.next_frame()? {
                return Ok(frame);
            }
            self.fill().await?;
        }
    }
}

fn next_lean(buf: &mut BytesMut, frame_max: u32) -> Result<Option<LeanFrame>> {
    if buf.first() != Some(&FRAME_HEADER_TYPE) || buf.len() < 7 {
        return decode_frame(buf, frame_max)
            .map(|frame| frame.map(LeanFrame::Frame))
            .map_err(|e| Error::protocol(format!("undecodable frame from the broker: {e}")));
    }
    let size = u32::from_be_bytes([buf[3], buf[4], buf[5], buf[6]]);
    if frame_max != 0 && size > frame_max {
        return Err(Error::protocol(format!(
            "a {size}-octet frame from the broker"
        )));
    }
    let total = size as usize + 8;
    if buf.len() < total {
        return Ok(None);
    }
    // class (2), weight (2), body size (8), property flags (2) at least.
    if size < 14 || buf[total - 1] != FRAME_END {
        return Err(Error::protocol("malformed content header frame"));
    }
    let channel = u16::from_be_bytes([buf[1], buf[2]]);
    let mut body_size = [0u8; 8];
    body_size.copy_from_slice(&buf[11..19]);
    buf.advance(total);
    Ok(Some(LeanFrame::Header {
        channel,
        body_size: u64::from_be_bytes(body_size),
    }))
}

/// A method with content (`basic.deliver`, `basic.return`, `basic.get-ok`), put together from
/// its method, header and body frames.
#[derive(Debug)]
pub struct Content {
    pub channel: u16,
    pub method: Method,
    pub body: Bytes,
}

/// What [`Assembler::push`] makes of a frame.
#[derive(Debug)]
pub enum Incoming {
    Method(u16, Method),
    Content(Content),
    /// A frame that completes nothing yet, or a heartbeat.
    Nothing,
}

/// Collects the frames of content-bearing methods into [`Content`]s. A body that came in one
/// frame is that frame's payload, not a copy.
#[derive(Default)]
pub struct Assembler {
    pending: Option<Pending>,
}

struct Pending {
    channel: u16,
    method: Method,
    size: Option<u64>,
    body: BytesMut,
}

impl Assembler {
    /// Takes what [`FrameReader::next_lean`] returns.
    pub fn push_lean(&mut self, frame: LeanFrame) -> Result<Incoming> {
        match frame {
            LeanFrame::Frame(frame) => self.push(frame),
            LeanFrame::Header { body_size, .. } => self.header(body_size),
        }
    }

    fn header(&mut self, body_size: u64) -> Result<Incoming> {
        let pending = self
            .pending
            .as_mut()
            .ok_or_else(|| Error::protocol("content header without a method"))?;
        pending.size = Some(body_size);
        if body_size == 0 {
            return Ok(self.complete(Bytes::new()));
        }
        Ok(Incoming::Nothing)
    }

    pub fn push(&mut self, frame: Frame) -> Result<Incoming> {
        match frame {
            Frame::Method { channel, method } if method.has_content() => {
                self.pending = Some(Pending {
                    channel,
                    method,
                    size: None,
                    body: BytesMut::new(),
                });
                Ok(Incoming::Nothing)
            }
            Frame::Method { channel, method } => Ok(Incoming::Method(channel, method)),
            Frame::Header { header, .. } => self.header(header.body_size),
            Frame::Body { payload, .. } => {
                let pending = self
                    .pending
                    .as_mut()
                    .ok_or_else(|| Error::protocol("content body without a method"))?;
                let size = pending
                    .size
                    .ok_or_else(|| Error::protocol("content body before its header"))?;
                if pending.body.is_empty() && payload.len() as u64 == size {
                    return Ok(self.complete(payload));
                }
                pending.body.extend_from_slice(&payload);
                match (pending.body.len() as u64).cmp(&size) {
                    std::cmp::Ordering::Less => Ok(Incoming::Nothing),
                    std::cmp::Ordering::Equal => {
                        let body = std::mem::take(&mut pending.body).freeze();
                        Ok(self.complete(body))
                    }
                    std::cmp::Ordering::Greater => {
                        Err(Error::protocol("content body longer than announced"))
                    }
                }
            }
            Frame::Heartbeat { .. } => Ok(Incoming::Nothing),
        }
    }

    fn complete(&mut self, body: Bytes) -> Incoming {
        match self.pending.take() {
            Some(p) => Incoming::Content(Content {
                channel: p.channel,
                method: p.method,
                body,
            }),
            None => Incoming::Nothing,
        }
    }
}

/// The error for a `channel.close` or `connection.close` from the broker; other methods are
/// not errors.
pub fn closed_error(method: &Method) -> Option<Error> {
    let (what, code, text, class_id, method_id) = match method {
        Method::ChannelClose(c) => (
            "channel",
            c.reply_code,
            &c.reply_text,
            c.class_id,
            c.method_id,
        ),
        Method::ConnectionClose(c) => (
            "connection",
            c.reply_code,
            &c.reply_text,
            c.class_id,
            c.method_id,
        ),
        _ => return None,
    };
    Some(Error::Closed {
        what,
        code,
        text: text.to_string_lossy().into_owned(),
        class_id,
        method_id,
    })
}

/// One publish, encoded once (method, header and body frames); each message is a copy of it
/// whose body is then stamped in place at `body_offset`.
#[derive(Clone)]
pub struct PublishTemplate {
    pub frames: Bytes,
    pub body_offset: usize,
}

impl PublishTemplate {
    pub fn new(
        channel: u16,
        exchange: ShortStr,
        routing_key: ShortStr,
        properties: BasicProperties,
        body: Bytes,
        frame_max: u32,
    ) -> PublishTemplate {
        let mut out = BytesMut::new();
        let publish = BasicPublish {
            exchange,
            routing_key,
            mandatory: false,
            immediate: false,
        };
        encode_method_frame(channel, &publish.into(), &mut out);
        let header = ContentHeader::new(BASIC_CLASS, body.len() as u64, properties);
        let mut header_frame = BytesMut::new();
        Frame::Header {
            channel,
            header: header.clone(),
        }
        .encode(&mut header_frame);
        // The first body frame's payload starts after its 7-octet frame header.
        let body_offset = out.len() + header_frame.len() + 7;
        encode_content(channel, &header, &body, frame_max, &mut out);
        PublishTemplate {
            frames: out.freeze(),
            body_offset,
        }
    }

    /// Appends one copy of the publish to `out`, its body stamped with `stamp`.
    pub fn push_stamped(&self, out: &mut BytesMut, stamp: crate::payload::Stamp) {
        let at = out.len() + self.body_offset;
        out.extend_from_slice(&self.frames);
        crate::payload::stamp(&mut out[at..at + crate::payload::PREFIX_LEN], stamp);
    }
}

/// Writes part of `out` and removes what was written; cancel-safe (for `select!` beside a
/// read of the same connection).
pub async fn write_some(writer: &mut OwnedWriteHalf, out: &mut BytesMut) -> Result<()> {
    let n = writer.write(out).await?;
    if n == 0 {
        return Err(Error::Io(io::ErrorKind::WriteZero.into()));
    }
    out.advance(n);
    Ok(())
}

/// An open connection: the read half with its buffer, the write half and an output buffer.
pub struct Client {
    pub reader: FrameReader,
    pub writer: OwnedWriteHalf,
    /// Encoded frames not written yet; see [`write_some`] and [`Client::flush`].
    pub out: BytesMut,
    pub frame_max: u32,
    pub channel_max: u16,
}

impl Client {
    /// Connects (loopback only), speaks the handshake, opens the URL's vhost.
    pub async fn connect(url: &AmqpUrl, name: &str) -> Result<Client> {
        let addrs = url.loopback_addrs().await?;
        let handshake = async {
            let stream = TcpStream::connect(&addrs[..]).await?;
            stream.set_nodelay(true)?;
            let (half, mut writer) = stream.into_split();
            writer.write_all(PROTOCOL_HEADER).await?;
            let mut client = Client {
                reader: FrameReader::new(half),
                writer,
                out: BytesMut::new(),
                frame_max: FRAME_MAX,
                channel_max: 2047,
            };
            client.handshake(url, name).await?;
            Ok::<_, Error>(client)
        };
        match tokio::time::timeout(REPLY_TIMEOUT, handshake).await {
            Ok(result) => result,
            Err(_) => Err(Error::protocol(format!(
                "no connection to {} within {} s",
                url.redacted(),
                REPLY_TIMEOUT.as_secs()
            ))),
        }
    }

    async fn handshake(&mut self, url: &AmqpUrl, name: &str) -> Result<()> {
        match self.method_on(0).await? {
            Method::ConnectionStart(_) => {}
            other => return Err(unexpected("connection.start", &other)),
        }
        let mut capabilities = FieldTable::new();
        for cap in [
            "publisher_confirms",
            "consumer_cancel_notify",
            "authentication_failure_close",
            "connection.blocked",
        ] {
            capabilities.insert(cap, FieldValue::Bool(true));
        }
        let mut properties = FieldTable::new();
        properties.insert(
            "product",
            FieldValue::LongStr(Bytes::from_static(b"warren-bench")),
        );
        properties.insert(
            "version",
            FieldValue::LongStr(Bytes::from_static(env!("CARGO_PKG_VERSION").as_bytes())),
        );
        properties.insert("capabilities", FieldValue::Table(capabilities));
        properties.insert(
            "connection_name",
            FieldValue::LongStr(Bytes::from(name.to_owned())),
        );
        let response = format!("\0{}\0{}", url.user, url.password);
        self.send(
            0,
            ConnectionStartOk {
                client_properties: properties,
                mechanism: ShortStr::from_static("PLAIN"),
                response: Bytes::from(response),
                locale: ShortStr::from_static("en_US"),
            },
        )
        .await?;
        let tune = match self.method_on(0).await? {
            Method::ConnectionTune(t) => t,
            other => return Err(unexpected("connection.tune", &other)),
        };
        self.frame_max = match tune.frame_max {
            0 => FRAME_MAX,
            max => max.min(FRAME_MAX),
        };
        self.reader.frame_max = self.frame_max;
        self.channel_max = match tune.channel_max {
            0 => 2047,
            max => max,
        };
        self.send(
            0,
            ConnectionTuneOk {
                channel_max: self.channel_max,
                frame_max: self.frame_max,
                heartbeat: 0,
            },
        )
        .await?;
        let open = ConnectionOpen {
            virtual_host: short(url.vhost.clone())?,
        };
        match self.call(0, open).await? {
            Method::ConnectionOpenOk(_) => Ok(()),
            other => Err(unexpected("connection.open-ok", &other)),
        }
    }

    /// Encodes a method into the output buffer and writes the whole buffer.
    pub async fn send(&mut self, channel: u16, method: impl Into<Method>) -> Result<()> {
        encode_method_frame(channel, &method.into(), &mut self.out);
        self.flush().await
    }

    /// Writes the whole output buffer.
    pub async fn flush(&mut self) -> Result<()> {
        self.writer.write_all(&self.out).await?;
        self.out.clear();
        Ok(())
    }

    /// The next method on `channel`, skipping heartbeats, `connection.blocked`/`unblocked`
    /// and content; `channel.close`/`connection.close` are answered and returned as errors.
    async fn method_on(&mut self, channel: u16) -> Result<Method> {
        loop {
            let (on, method) = match self.reader.frame().await? {
                Frame::Method { channel, method } => (channel, method),
                _ => continue,
            };
            if let Some(error) = closed_error(&method) {
                match method {
                    Method::ConnectionClose(_) => {
                        let _ = self.send(0, ConnectionCloseOk {}).await;
                    }
                    _ => {
                        let _ = self.send(on, ChannelCloseOk {}).await;
                    }
                }
                return Err(error);
            }
            if matches!(
                method,
                Method::ConnectionBlocked(_) | Method::ConnectionUnblocked(_)
            ) {
                continue;
            }
            if on == channel {
                return Ok(method);
            }
        }
    }

    /// Sends a method and waits (at most [`REPLY_TIMEOUT`]) for the next method on its
    /// channel.
    pub async fn call(&mut self, channel: u16, method: impl Into<Method>) -> Result<Method> {
        let method = method.into();
        let name = method.name();
        let exchange = async {
            self.send(channel, method).await?;
            self.method_on(channel).await
        };
        match tokio::time::timeout(REPLY_TIMEOUT, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Error::protocol(format!(
                "no reply to {name} within {} s",
                REPLY_TIMEOUT.as_secs()
            ))),
        }
    }

    pub async fn open_channel(&mut self, channel: u16) -> Result<()> {
        match self.call(channel, ChannelOpen {}).await? {
            Method::ChannelOpenOk(_) => Ok(()),
            other => Err(unexpected("channel.open-ok", &other)),
        }
    }

    pub async fn close_channel(&mut self, channel: u16) -> Result<()> {
        let close = ChannelClose {
            reply_code: 200,
            reply_text: ShortStr::from_static("bye"),
            class_id: 0,
            method_id: 0,
        };
        match self.call(channel, close).await? {
            Method::ChannelCloseOk(_) => Ok(()),
            other => Err(unexpected("channel.close-ok", &other)),
        }
    }

    pub async fn declare_exchange(&mut self, channel: u16, name: &str, kind: &str) -> Result<()> {
        let declare = ExchangeDeclare {
            exchange: short(name)?,
            kind: short(kind)?,
            auto_delete: true,
            ..Default::default()
        };
        match self.call(channel, declare).await? {
            Method::ExchangeDeclareOk(_) => Ok(()),
            other => Err(unexpected("exchange.declare-ok", &other)),
        }
    }

    /// A non-durable, non-exclusive queue (consumers on other connections use it);
    /// `auto_delete`: deleted when its last consumer goes (a queue that must outlive killed
    /// consumers, or hold messages before any consumer, is not).
    pub async fn declare_queue(
        &mut self,
        channel: u16,
        name: &str,
        auto_delete: bool,
    ) -> Result<()> {
        let declare = QueueDeclare {
            queue: short(name)?,
            auto_delete,
            ..Default::default()
        };
        match self.call(channel, declare).await? {
            Method::QueueDeclareOk(_) => Ok(()),
            other => Err(unexpected("queue.declare-ok", &other)),
        }
    }

    /// How many messages a queue holds ready (`queue.declare passive`).
    pub async fn queue_length(&mut self, channel: u16, name: &str) -> Result<u32> {
        let declare = QueueDeclare {
            queue: short(name)?,
            passive: true,
            ..Default::default()
        };
        match self.call(channel, declare).await? {
            Method::QueueDeclareOk(ok) => Ok(ok.message_count),
            other => Err(unexpected("queue.declare-ok", &other)),
        }
    }

    pub async fn bind_queue(
        &mut self,
        channel: u16,
        queue: &str,
        exchange: &str,
        key: &str,
        arguments: FieldTable,
    ) -> Result<()> {
        let bind = QueueBind {
            queue: short(queue)?,
            exchange: short(exchange)?,
            routing_key: short(key)?,
            no_wait: false,
            arguments,
        };
        match self.call(channel, bind).await? {
            Method::QueueBindOk(_) => Ok(()),
            other => Err(unexpected("queue.bind-ok", &other)),
        }
    }

    pub async fn delete_queue(&mut self, channel: u16, name: &str) -> Result<()> {
        let delete = QueueDelete {
            queue: short(name)?,
            ..Default::default()
        };
        match self.call(channel, delete).await? {
            Method::QueueDeleteOk(_) => Ok(()),
            other => Err(unexpected("queue.delete-ok", &other)),
        }
    }

    /// Per-consumer prefetch (RabbitMQ's `global=false`), for consumers created afterwards.
    pub async fn qos(&mut self, channel: u16, prefetch: u16) -> Result<()> {
        let qos = BasicQos {
            prefetch_size: 0,
            prefetch_count: prefetch,
            global: false,
        };
        match self.call(channel, qos).await? {
            Method::BasicQosOk(_) => Ok(()),
            other => Err(unexpected("basic.qos-ok", &other)),
        }
    }

    pub async fn consume(
        &mut self,
        channel: u16,
        queue: &str,
        tag: &str,
        no_ack: bool,
    ) -> Result<()> {
        let consume = BasicConsume {
            queue: short(queue)?,
            consumer_tag: short(tag)?,
            no_ack,
            ..Default::default()
        };
        match self.call(channel, consume).await? {
            Method::BasicConsumeOk(_) => Ok(()),
            other => Err(unexpected("basic.consume-ok", &other)),
        }
    }

    pub async fn confirm_select(&mut self, channel: u16) -> Result<()> {
        match self.call(channel, ConfirmSelect { no_wait: false }).await? {
            Method::ConfirmSelectOk(_) => Ok(()),
            other => Err(unexpected("confirm.select-ok", &other)),
        }
    }

    /// `connection.close` (after whatever the output buffer still holds), then waits
    /// (bounded) for `close-ok`, discarding whatever else arrives (deliveries in flight).
    pub async fn close(mut self) -> Result<()> {
        let close = ConnectionClose {
            reply_code: 200,
            reply_text: ShortStr::from_static("bye"),
            class_id: 0,
            method_id: 0,
        };
        encode_method_frame(0, &close.into(), &mut self.out);
        let wait = async {
            self.flush().await?;
            loop {
                match self.reader.frame().await? {
                    Frame::Method {
                        method: Method::ConnectionCloseOk(_),
                        ..
                    } => return Ok(()),
                    Frame::Method {
                        method: Method::ConnectionClose(_),
                        ..
                    } => {
                        let _ = self.send(0, ConnectionCloseOk {}).await;
                        return Ok(());
                    }
                    _ => {}
                }
            }
        };
        match tokio::time::timeout(CLOSE_TIMEOUT, wait).await {
            Ok(result) => result,
            Err(_) => Err(Error::protocol("no connection.close-ok within 3 s")),
        }
    }
}

fn unexpected(wanted: &str, got: &Method) -> Error {
    Error::protocol(format!("expected {wanted}, got {}", got.name()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use warren_wire::BasicDeliver;

    fn frames(bytes: &[u8]) -> Vec<Frame> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(frame) = decode_frame(&mut buf, 0).expect("decodes") {
            out.push(frame);
        }
        out
    }

    #[test]
    fn template_body_offset_points_at_the_body() {
        for frame_max in [4096, 131_072] {
            let body = Bytes::from(vec![b'z'; 10_000]);
            let t = PublishTemplate::new(
                1,
                ShortStr::from_static("x"),
                ShortStr::from_static("k"),
                BasicProperties::default(),
                body,
                frame_max,
            );
            assert_eq!(&t.frames[t.body_offset..t.body_offset + 3], b"zzz");
            assert_ne!(t.frames[t.body_offset - 1], b'z');
        }
    }

    #[test]
    fn lean_headers_give_the_body_size() {
        let properties = BasicProperties {
            content_type: Some(ShortStr::from_static("application/json")),
            ..Default::default()
        };
        let header = ContentHeader::new(BASIC_CLASS, 300, properties);
        let mut buf = BytesMut::new();
        Frame::Header { channel: 1, header }.encode(&mut buf);
        let whole = buf.len();
        encode_method_frame(1, &ChannelOpen {}.into(), &mut buf);
        let mut partial = BytesMut::from(&buf[..whole - 1]);
        assert!(next_lean(&mut partial, 0).expect("waits").is_none());
        match next_lean(&mut buf, 0).expect("reads") {
            Some(LeanFrame::Header { channel, body_size }) => {
                assert_eq!((channel, body_size), (1, 300))
            }
            _ => panic!("not a header"),
        }
        assert!(matches!(
            next_lean(&mut buf, 0).expect("reads"),
            Some(LeanFrame::Frame(Frame::Method { .. }))
        ));
        assert!(buf.is_empty());
    }

    #[test]
    fn assembler_joins_split_bodies() {
        let deliver = BasicDeliver {
            consumer_tag: ShortStr::from_static("c"),
            delivery_tag: 9,
            ..Default::default()
        };
        let header = ContentHeader::new(BASIC_CLASS, 10_000, BasicProperties::default());
        let body = Bytes::from(vec![b'q'; 10_000]);
        for frame_max in [4096, 0] {
            let mut out = BytesMut::new();
            warren_wire::encode_method_with_content(
                3,
                &deliver.clone().into(),
                &header,
                &body,
                frame_max,
                &mut out,
            );
            let mut assembler = Assembler::default();
            let mut got = Vec::new();
            for frame in frames(&out) {
                if let Incoming::Content(c) = assembler.push(frame).expect("assembles") {
                    got.push(c);
                }
            }
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].channel, 3);
            assert_eq!(got[0].body, body);
            assert!(matches!(&got[0].method, Method::BasicDeliver(d) if d.delivery_tag == 9));
        }
    }
}
