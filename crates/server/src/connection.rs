//! One task per client connection: on an amqps listener it does the TLS handshake first, then
//! (over TCP or TLS alike) it checks the protocol header and pumps bytes between the socket and
//! the broker's sans-I/O [`Session`]: what is read goes to `Session::receive`, what it
//! transmits is written, and the task sleeps until the session's next timeout, its outbox's
//! wake-up (deliveries, or another door's request), the memory alarm or the shutdown signal. Every protocol decision (heartbeats,
//! deadlines, blocking, what a bad frame leads to) is the session's. Until `connection.open`
//! the task holds a place among the connections in the handshake (see `handshakes.rs`).
//!
//! Writes are batched: everything the session produced since the last write goes out
//! in one `write` call. While a client does not read what we send (the pending output is over
//! [`MAX_PENDING_OUTPUT`]), we stop reading its frames and stop taking deliveries, so a slow
//! consumer holds the broker back by its prefetch window, not by unbounded memory.

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
use tracing::{debug, info};
use warren_broker::{Broker, Session, READ_BUFFER_SIZE};
use warren_wire::{PROTOCOL_HEADER, PROTOCOL_HEADER_0_9};

use crate::handshakes::HandshakeSlot;
use crate::ConnectionSettings;

/// Above this much unwritten output, the connection stops reading and taking deliveries.
const MAX_PENDING_OUTPUT: usize = 4 * 1024 * 1024;
/// How long closing the socket may take (TLS sends what it holds, and its close_notify).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

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
    /// Our address that the client connected to.
    pub local: SocketAddr,
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
        local,
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
    let now = Instant::now();
    let addresses = (peer, local);
    let session = Session::new(broker, addresses, now.into_std(), deadline.into_std());
    let mut pump = Pump {
        session,
        memory_alarm,
        reader,
        writer,
        input,
        pending: BytesMut::with_capacity(READ_BUFFER_SIZE),
        unflushed: false,
        handshake: Some(handshake),
    };
    debug!(%peer, connection = pump.session.id(), "accepted");
    pump.run(shutdown).await;
    debug!(%peer, connection = pump.session.id(), "closed");
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

/// Moves bytes between a socket and its [`Session`]: reads into `input`, writes what the
/// session transmits, sleeps until its next timeout. It makes no protocol decision of its own
/// beyond back-pressure: above [`MAX_PENDING_OUTPUT`] unwritten, it stops reading and stops
/// taking deliveries.
struct Pump<R, W> {
    session: Session,
    /// While raised, connections that publish are blocked: not read from.
    memory_alarm: watch::Receiver<bool>,
    reader: R,
    writer: W,
    input: BytesMut,
    /// Output being written; refilled from the session when empty.
    pending: BytesMut,
    /// Written but maybe not sent: TLS keeps what the socket did not take until a flush.
    unflushed: bool,
    /// Our place among the connections in the handshake, until `connection.open`.
    handshake: Option<HandshakeSlot>,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Pump<R, W> {
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        let outbox = Arc::clone(self.session.outbox());
        self.session
            .set_memory_alarm(*self.memory_alarm.borrow_and_update());
        let mut shutting_down = *shutdown.borrow();
        if shutting_down {
            self.session.close_for_shutdown(Instant::now().into_std());
        }
        loop {
            let now = Instant::now().into_std();
            self.session.poll_transmit(&mut self.pending, now);
            if !self.session.in_handshake() {
                self.handshake = None;
            }
            if self.session.is_finished() && self.pending.is_empty() && !self.unflushed {
                // Sends what TLS still holds, and its close_notify.
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.writer.shutdown()).await;
                return;
            }
            let backlog = self.pending.len() + self.session.unsent();
            let can_take_more = backlog < MAX_PENDING_OUTPUT;
            let reading = can_take_more && self.session.wants_input();
            let deliveries = can_take_more && self.session.wants_deliveries();
            let timer = self
                .session
                .poll_timeout()
                .map_or_else(far_future, Instant::from_std);
            tokio::select! {
                biased;
                _ = shutdown.changed(), if !shutting_down => {
                    shutting_down = true;
                    self.session.close_for_shutdown(Instant::now().into_std());
                }
                written = write_or_flush(&mut self.writer, &self.pending), if !self.pending.is_empty() || self.unflushed => match written {
                    Ok(Some(n)) => {
                        self.pending.advance(n);
                        // At once where the socket takes it (always over TCP), so a write
                        // costs no second turn of this loop; else the branch flushes later.
                        match flush_now(&mut self.writer).await {
                            Poll::Ready(Ok(())) => self.unflushed = false,
                            Poll::Ready(Err(error)) => {
                                debug!(connection = self.session.id(), %error, "flush failed; dropping the connection");
                                return;
                            }
                            Poll::Pending => self.unflushed = true,
                        }
                    }
                    Ok(None) => self.unflushed = false,
                    Err(error) => {
                        debug!(connection = self.session.id(), %error, "write failed; dropping the connection");
                        return;
                    }
                },
                read = self.reader.read_buf(self.session.read_buffer(&mut self.input)), if reading => match read {
                    Ok(0) => {
                        self.session.on_eof();
                        return;
                    }
                    Ok(read) => {
                        self.session.count_read(read);
                        self.session.receive(&mut self.input, Instant::now().into_std());
                    }
                    Err(error) => {
                        debug!(connection = self.session.id(), %error, "read failed; dropping the connection");
                        return;
                    }
                },
                _ = outbox.requested() => {
                    self.session.take_requests(Instant::now().into_std());
                }
                _ = outbox.notified(), if deliveries => {
                    self.session.take_deliveries(Instant::now().into_std());
                }
                _ = self.memory_alarm.changed() => {
                    let raised = *self.memory_alarm.borrow_and_update();
                    if self.session.set_memory_alarm(raised) {
                        // Frames read before the block are waiting in the input buffer.
                        self.session.receive(&mut self.input, Instant::now().into_std());
                    }
                }
                _ = sleep_until(timer) => self.session.on_timeout(Instant::now().into_std()),
            }
        }
    }
}

/// A deadline that never comes, for a session with no timer running.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}
