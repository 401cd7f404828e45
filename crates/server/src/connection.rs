//! One task per client connection: on an amqps listener it does the TLS handshake first, then
//! (over TCP or TLS alike) it checks the protocol header and loops over the socket, the
//! connection's outbox, its timers and the shutdown signal, feeding decoded frames to the
//! broker's [`Connection`] state machine and writing what it produces. Until `connection.open`
//! it holds a place among the connections in the handshake (see `handshakes.rs`).
//!
//! Writes are batched: everything the state machine produced since the last write goes out
//! in one `write` call. While a client does not read what we send (the pending output is over
//! [`MAX_PENDING_OUTPUT`]), we stop reading its frames and stop taking deliveries, so a slow
//! consumer holds the broker back by its prefetch window, not by unbounded memory.
//!
//! A body frame of [`LARGE_BODY_MIN`] or more that the read buffer does not hold whole is read
//! into an allocation of the payload's size ([`LargeBody`]): the body then keeps no read
//! buffer (copied into a new one, a 64 KiB body made it grow to 128 KiB), nor a buffer's end
//! full of its first bytes copied out.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, error, info, warn};
use warren_broker::{AmqpError, Broker, Connection, Phase, READ_BUFFER_SIZE};
use warren_wire::{
    decode_frame, Frame, FrameDecodeError, LargeBody, PROTOCOL_HEADER, PROTOCOL_HEADER_0_9,
};

use crate::handshakes::HandshakeSlot;
use crate::ConnectionSettings;

/// Above this much unwritten output, the connection stops reading and taking deliveries.
const MAX_PENDING_OUTPUT: usize = 4 * 1024 * 1024;
/// The smallest body frame read into an allocation of its own when the read buffer does not
/// hold it whole: from there, the extra `read` it costs is little beside the copy of its start
/// that the buffer would make, and what it would leave unused at the buffer's end (up to 6 %).
const LARGE_BODY_MIN: usize = 4096;
/// How long we wait for `close-ok` after sending `connection.close`.
const CLOSE_OK_TIMEOUT: Duration = Duration::from_secs(3);

enum Greeting {
    Amqp091,
    /// Anything else: RabbitMQ answers with the header it speaks, then closes.
    Other,
    /// The peer closed without sending a byte (a port probe): nothing to say.
    Silent,
}

/// What a connection task starts with, besides its socket.
pub(crate) struct Accepted {
    pub peer: SocketAddr,
    /// The TLS handshake to do first, on an amqps listener.
    pub tls: Option<TlsAcceptor>,
    pub broker: Arc<Broker>,
    pub settings: Arc<ConnectionSettings>,
    /// Held until `connection.open` (or the end of the connection).
    pub handshake: HandshakeSlot,
    pub shutdown: watch::Receiver<bool>,
}

pub(crate) async fn serve(stream: TcpStream, accepted: Accepted) {
    let _ = stream.set_nodelay(true);
    let deadline = Instant::now() + accepted.settings.handshake_timeout;
    let Some(acceptor) = accepted.tls.clone() else {
        let (reader, writer) = stream.into_split();
        return serve_amqp(reader, writer, deadline, accepted).await;
    };
    let peer = accepted.peer;
    match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => {
            let (reader, writer) = tokio::io::split(stream);
            serve_amqp(reader, writer, deadline, accepted).await;
        }
        Ok(Err(error)) => info!(%peer, %error, "TLS handshake failed; closing"),
        Err(_) => info!(%peer, "no TLS handshake within the handshake timeout; closing"),
    }
}

/// AMQP over a byte stream, plain or TLS.
async fn serve_amqp<R, W>(mut reader: R, mut writer: W, deadline: Instant, accepted: Accepted)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let Accepted {
        peer,
        broker,
        handshake,
        shutdown,
        ..
    } = accepted;
    let mut input = BytesMut::with_capacity(READ_BUFFER_SIZE);
    let greeting = tokio::time::timeout_at(deadline, read_greeting(&mut reader, &mut input)).await;
    match greeting {
        Ok(Greeting::Amqp091) => {}
        Ok(Greeting::Silent) => return,
        Ok(Greeting::Other) => {
            info!(%peer, "not an AMQP 0-9-1 client (bad protocol header); answering with ours");
            let _ = writer.write_all(PROTOCOL_HEADER).await;
            let _ = writer.shutdown().await;
            return;
        }
        Err(_) => {
            info!(%peer, "no protocol header within the handshake timeout; closing");
            return;
        }
    }
    let memory_alarm = broker.memory_alarm();
    let mut session = Session {
        connection: Connection::new(broker, peer.ip()),
        memory_alarm,
        reader,
        writer,
        input,
        large_body: None,
        pending: BytesMut::with_capacity(READ_BUFFER_SIZE),
        unflushed: false,
        last_received: Instant::now(),
        last_sent: Instant::now(),
        handshake_deadline: deadline,
        handshake: Some(handshake),
        close_deadline: None,
        stream_broken: false,
    };
    debug!(%peer, connection = session.connection.id(), "accepted");
    session.run(shutdown).await;
    debug!(%peer, connection = session.connection.id(), "closed");
}

/// Reads until the 8-byte protocol header is complete, or until it cannot be one of the two
/// that RabbitMQ serves as 0-9-1.
async fn read_greeting(reader: &mut (impl AsyncRead + Unpin), input: &mut BytesMut) -> Greeting {
    loop {
        let seen = input.len().min(PROTOCOL_HEADER.len());
        let could_be = |header: &[u8; 8]| input[..seen] == header[..seen];
        if !could_be(PROTOCOL_HEADER) && !could_be(PROTOCOL_HEADER_0_9) {
            return Greeting::Other;
        }
        if seen == PROTOCOL_HEADER.len() {
            input.advance(seen);
            return Greeting::Amqp091;
        }
        match reader.read_buf(input).await {
            Ok(0) | Err(_) if input.is_empty() => return Greeting::Silent,
            Ok(0) | Err(_) => return Greeting::Other,
            Ok(_) => {}
        }
    }
}

/// Writes some of `pending`, or, once it is all written, flushes: TLS holds back what the
/// socket did not take until then. Returns how much was written (None: flushed).
async fn write_or_flush(
    writer: &mut (impl AsyncWrite + Unpin),
    pending: &[u8],
) -> std::io::Result<Option<usize>> {
    if pending.is_empty() {
        writer.flush().await.map(|()| None)
    } else {
        writer.write(pending).await.map(Some)
    }
}

/// One attempt at a flush, without waiting: Pending when the socket is full (the task is then
/// woken when it can take more).
async fn flush_now(writer: &mut (impl AsyncWrite + Unpin)) -> Poll<std::io::Result<()>> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *writer).poll_flush(cx))).await
}

struct Session<R, W> {
    connection: Connection,
    /// While raised, connections that publish are blocked: not read from.
    memory_alarm: watch::Receiver<bool>,
    reader: R,
    writer: W,
    input: BytesMut,
    /// A large body frame being read, into its own allocation; `input` takes what follows it.
    large_body: Option<LargeBody>,
    /// Output being written; refilled from the state machine when empty.
    pending: BytesMut,
    /// Written but maybe not sent: TLS keeps what the socket did not take until a flush.
    unflushed: bool,
    last_received: Instant,
    last_sent: Instant,
    handshake_deadline: Instant,
    /// Our place among the connections in the handshake, until `connection.open`.
    handshake: Option<HandshakeSlot>,
    close_deadline: Option<Instant>,
    /// The input could not be decoded: nothing more will be read from it.
    stream_broken: bool,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        let outbox = Arc::clone(self.connection.outbox());
        let mut shutting_down = *shutdown.borrow();
        if shutting_down {
            self.connection.close_for_shutdown();
        }
        loop {
            if self.pending.is_empty() {
                std::mem::swap(&mut self.pending, self.connection.output());
            }
            let phase = self.connection.phase();
            if !matches!(
                phase,
                Phase::AwaitStartOk | Phase::AwaitTuneOk | Phase::AwaitOpen
            ) {
                self.handshake = None;
            }
            if phase == Phase::Closed && self.pending.is_empty() {
                // Sends what TLS still holds, and its close_notify.
                let _ = tokio::time::timeout(CLOSE_OK_TIMEOUT, self.writer.shutdown()).await;
                return;
            }
            if phase == Phase::Closing && self.close_deadline.is_none() {
                self.close_deadline = Some(Instant::now() + CLOSE_OK_TIMEOUT);
            }
            let backlog = self.pending.len() + self.connection.output().len();
            let can_take_more = backlog < MAX_PENDING_OUTPUT;
            // A blocked connection is read again once it is closing: close-ok must get through.
            let blocked = self.connection.is_blocked() && phase == Phase::Open;
            let reading =
                can_take_more && !self.stream_broken && phase != Phase::Closed && !blocked;
            let timer = self.next_timer();
            let read_into = match &mut self.large_body {
                Some(large) if !large.is_complete() => large.payload_mut(),
                _ => &mut self.input,
            };
            tokio::select! {
                biased;
                _ = shutdown.changed(), if !shutting_down => {
                    shutting_down = true;
                    self.connection.close_for_shutdown();
                }
                written = write_or_flush(&mut self.writer, &self.pending), if !self.pending.is_empty() || self.unflushed => match written {
                    Ok(Some(n)) => {
                        self.pending.advance(n);
                        self.last_sent = Instant::now();
                        // At once where the socket takes it (always over TCP), so a write
                        // costs no second turn of this loop; else the branch flushes later.
                        match flush_now(&mut self.writer).await {
                            Poll::Ready(Ok(())) => self.unflushed = false,
                            Poll::Ready(Err(error)) => {
                                debug!(connection = self.connection.id(), %error, "flush failed; dropping the connection");
                                return;
                            }
                            Poll::Pending => self.unflushed = true,
                        }
                    }
                    Ok(None) => self.unflushed = false,
                    Err(error) => {
                        debug!(connection = self.connection.id(), %error, "write failed; dropping the connection");
                        return;
                    }
                },
                read = self.reader.read_buf(read_into), if reading => match read {
                    Ok(0) => {
                        if self.connection.phase() == Phase::Open {
                            info!(connection = self.connection.id(), "client closed the TCP connection without connection.close");
                        }
                        return;
                    }
                    Ok(_) => {
                        self.last_received = Instant::now();
                        self.handle_input();
                    }
                    Err(error) => {
                        debug!(connection = self.connection.id(), %error, "read failed; dropping the connection");
                        return;
                    }
                },
                _ = outbox.notified(), if can_take_more && phase == Phase::Open => {
                    self.guarded(Connection::drain_outbox);
                }
                _ = self.memory_alarm.changed() => {
                    if !*self.memory_alarm.borrow_and_update() && self.connection.set_blocked(false, "") {
                        info!(connection = self.connection.id(), "unblocked: memory is back under the watermark");
                        // Frames read before the block are waiting in the input buffer.
                        self.handle_input();
                    }
                }
                _ = sleep_until(timer) => {
                    if !self.on_timer() {
                        return;
                    }
                }
            }
        }
    }

    /// Decodes and handles every whole frame in the input buffer, stopping when the connection
    /// gets blocked (RabbitMQ blocks a publisher at its first publish under the memory alarm).
    fn handle_input(&mut self) {
        while self.connection.phase() != Phase::Closed {
            let open = self.connection.phase() == Phase::Open;
            if open && *self.memory_alarm.borrow() && self.connection.has_published() {
                if self.connection.set_blocked(true, "low on memory") {
                    warn!(
                        connection = self.connection.id(),
                        "blocked: memory alarm, not reading from this publisher"
                    );
                }
                return;
            }
            if let Some(large) = self.large_body.take() {
                if !large.is_complete() {
                    self.large_body = Some(large);
                    return;
                }
                match large.finish(&mut self.input) {
                    Ok(Ok(frame)) => self.guarded(|connection| connection.handle_frame(frame)),
                    Ok(Err(waiting_for_its_end)) => {
                        self.large_body = Some(waiting_for_its_end);
                        return;
                    }
                    Err(error) => return self.undecodable(error),
                }
                continue;
            }
            let frame_max = self.connection.frame_max();
            match decode_frame(&mut self.input, frame_max) {
                Ok(Some(frame)) => self.guarded(|connection| connection.handle_frame(frame)),
                Ok(None) => {
                    if frame_max != 0 {
                        self.large_body = LargeBody::take(&mut self.input, LARGE_BODY_MIN);
                    }
                    // What the body's start took in the buffer is room again, but room for
                    // reads as small: below a quarter of a buffer, a fresh one is read into
                    // (16 KiB bodies went 25 % slower), and the room is left unused.
                    if self.large_body.is_some() && self.input.capacity() < READ_BUFFER_SIZE / 4 {
                        self.input = BytesMut::with_capacity(READ_BUFFER_SIZE);
                    }
                    return;
                }
                Err(error) => return self.undecodable(error),
            }
        }
    }

    /// The input cannot be decoded: the connection is closed, as RabbitMQ closes it.
    fn undecodable(&mut self, error: FrameDecodeError) {
        self.stream_broken = true;
        self.input.clear();
        self.large_body = None;
        if error.abrupt {
            // RabbitMQ's reader crashes on these and the socket just closes.
            warn!(
                connection = self.connection.id(),
                code = error.reply_code,
                "dropping the connection: undecodable frame: {}",
                error.text
            );
            self.connection.abort();
            return;
        }
        let mut amqp = AmqpError::new(error.reply_code, &error.text);
        amqp.class_id = error.class_id;
        amqp.method_id = error.method_id;
        self.connection.fail_connection(amqp);
    }

    /// Runs one step of the state machine, see [`guarded`]; after a panic nothing more is read.
    fn guarded(&mut self, step: impl FnOnce(&mut Connection)) {
        if !guarded(&mut self.connection, step) {
            self.stream_broken = true;
        }
    }

    /// When something is due: a heartbeat to send, a silent peer to drop, a deadline.
    fn next_timer(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        let mut next = far;
        if let Some(deadline) = self.close_deadline {
            next = next.min(deadline);
        }
        match self.heartbeat() {
            _ if self.connection.phase() != Phase::Open && self.close_deadline.is_none() => {
                next = next.min(self.handshake_deadline);
            }
            Some(interval) => {
                next = next
                    .min(self.last_sent + interval / 2)
                    .min(self.last_received + interval * 2);
            }
            None => {}
        }
        next
    }

    /// Returns false when the connection must be dropped.
    fn on_timer(&mut self) -> bool {
        let now = Instant::now();
        if self.close_deadline.is_some_and(|d| now >= d) {
            debug!(
                connection = self.connection.id(),
                "no close-ok in time; dropping the connection"
            );
            return false;
        }
        if self.connection.phase() != Phase::Open && self.close_deadline.is_none() {
            if now >= self.handshake_deadline {
                warn!(
                    connection = self.connection.id(),
                    "handshake not finished within the timeout; closing"
                );
                return false;
            }
            return true;
        }
        if self.connection.is_blocked() {
            // Not reading, so not hearing the client either: RabbitMQ pauses its heartbeat
            // monitor while a connection is blocked.
            self.last_received = now;
        }
        if let Some(interval) = self.heartbeat() {
            if now >= self.last_received + interval * 2 {
                warn!(
                    connection = self.connection.id(),
                    "missed heartbeats from client, timeout: {}s",
                    interval.as_secs()
                );
                return false;
            }
            if now >= self.last_sent + interval / 2 {
                // Output already on its way proves we are alive as well as a heartbeat would.
                if self.pending.is_empty() {
                    Frame::Heartbeat { channel: 0 }.encode(self.connection.output());
                }
                // Counted as sent now, so the timer does not spin until the write happens.
                self.last_sent = now;
            }
        }
        true
    }

    fn heartbeat(&self) -> Option<Duration> {
        match self.connection.heartbeat() {
            0 => None,
            secs => Some(Duration::from_secs(secs.into())),
        }
    }
}

/// Runs one step of the state machine; a panic in it (a bug of ours) closes this connection
/// with 541 INTERNAL_ERROR, as RabbitMQ does when a channel process crashes, and leaves the
/// broker and its other connections alone. Returns false after a panic.
fn guarded(connection: &mut Connection, step: impl FnOnce(&mut Connection)) -> bool {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(connection)));
    if outcome.is_err() {
        error!(
            connection = connection.id(),
            "internal error while handling this connection; closing it with 541"
        );
        connection.fail_connection(AmqpError::internal_error(""));
    }
    outcome.is_ok()
}

#[cfg(test)]
mod tests {
    use warren_broker::BrokerConfig;
    use warren_wire::Method;

    use super::*;

    #[test]
    fn a_panic_in_the_state_machine_closes_only_that_connection_with_541() {
        let broker = Broker::new(BrokerConfig::default());
        let localhost = std::net::Ipv4Addr::LOCALHOST.into();
        let mut faulty = Connection::new(Arc::clone(&broker), localhost);
        let mut other = Connection::new(Arc::clone(&broker), localhost);

        assert!(!guarded(&mut faulty, |_| panic!("a bug in a handler")));
        let mut output = faulty.output().split();
        let mut close = None;
        while let Ok(Some(frame)) = decode_frame(&mut output, 0) {
            if let Frame::Method {
                method: Method::ConnectionClose(c),
                ..
            } = frame
            {
                close = Some(c);
            }
        }
        let close = close.expect("a connection.close after the panic");
        assert_eq!(close.reply_code, 541);
        assert!(close.reply_text.starts_with(b"INTERNAL_ERROR"));

        assert!(guarded(&mut other, |c| c
            .handle_frame(Frame::Heartbeat { channel: 0 })));
        assert_ne!(other.phase(), Phase::Closing);
    }
}
