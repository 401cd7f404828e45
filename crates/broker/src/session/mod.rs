//! The AMQP door as a sans-I/O state machine: bytes in, bytes out, with time given to it
//! (quinn-proto's shape, scaled down). Whoever owns the socket and the clock — the server, a
//! test, the fuzzer — pumps it:
//!
//! - [`Session::receive`]: every whole frame in the input buffer is cut off and handled;
//! - [`Session::poll_transmit`]: the bytes to write next;
//! - [`Session::poll_timeout`] / [`Session::on_timeout`]: the next deadline, and what is due at it;
//! - [`Session::wants_input`], [`Session::wants_deliveries`], [`Session::is_finished`]: whether to
//!   read, whether to take deliveries from the outbox, whether to close the socket (once what
//!   was transmitted is written).
//!
//! The protocol's decisions about time and faults live here, not in the pump:
//!
//! | what | when | then |
//! | --- | --- | --- |
//! | handshake deadline | `connection.open` not reached in time | the socket is closed, unanswered |
//! | heartbeat out | we were silent for half the negotiated interval | a heartbeat frame is sent |
//! | heartbeat in | the client was silent for two intervals (not counted while it is blocked) | the socket is closed |
//! | close-ok deadline | our `connection.close` got no close-ok in [`CLOSE_OK_TIMEOUT`] | the socket is closed |
//! | linger | we sent close-ok for the client's `connection.close` | the client closes the socket; we do after the heartbeat interval, at most [`LINGER_MAX`] (RabbitMQ's `?CLOSING_TIMEOUT`) |
//! | memory alarm | raised, and this connection has published | no more frames are taken (they wait in the input buffer), `connection.blocked` is sent to clients that asked for it |
//! | undecodable input | [`decode_frame`] fails | `connection.close` with its code, or the socket is dropped where RabbitMQ drops it |
//! | a large body frame | a body frame of [`LARGE_BODY_MIN`] or more is not whole in the input | it is read into an allocation of its own size ([`Session::read_buffer`]) |
//! | a bug | a panic while handling a frame | `connection.close` 541, as RabbitMQ does when a channel process crashes |

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tracing::{error, info, warn};
use warren_wire::{decode_frame, Frame, FrameDecodeError, LargeBody};

pub mod channel;
pub mod connection;
mod dispatch;
mod methods;
pub mod outbox;
mod report;

use warren_wire::reply_code::CONNECTION_FORCED;

use crate::error::AmqpError;
use crate::model::connections::Request;
use crate::Broker;
use connection::{Connection, Phase, READ_BUFFER_SIZE};
use outbox::Outbox;

/// The smallest body frame read into an allocation of its own when the read buffer does not
/// hold it whole: a body copied into a new read buffer made it grow by doubling (a 64 KiB body
/// kept 128 KiB), and a body kept its whole buffer. From this size on, the extra `read` it
/// costs is little beside the copy of its start that the buffer would make, and what it would
/// leave unused at the buffer's end (up to 6 %).
pub const LARGE_BODY_MIN: usize = 4096;
/// How long we wait for `close-ok` after sending `connection.close`.
pub const CLOSE_OK_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest we leave the socket to a client we sent close-ok to (RabbitMQ's
/// `?CLOSING_TIMEOUT`; shorter when the heartbeat interval is).
pub const LINGER_MAX: Duration = Duration::from_secs(30);

pub struct Session {
    connection: Connection,
    /// Nothing more is read: the input could not be decoded, or handling it panicked.
    input_broken: bool,
    /// A large body frame being read into its own allocation; the input buffer takes what
    /// follows it.
    large_body: Option<LargeBody>,
    /// The socket is to be closed once the output is written.
    finished: bool,
    memory_alarm: bool,
    last_received: Instant,
    last_sent: Instant,
    handshake_deadline: Instant,
    /// After our `connection.close`: when we stop waiting for close-ok.
    close_deadline: Option<Instant>,
    /// After our close-ok: when we stop waiting for the client to close the socket.
    linger_deadline: Option<Instant>,
}

impl Session {
    /// A session for a client at `peer`, connected to our `local` address, whose protocol
    /// header was accepted at `now`; it must reach `connection.open` by `handshake_deadline`.
    /// `connection.start` is ready to transmit, and the broker lists the connection.
    pub fn new(
        broker: Arc<Broker>,
        (peer, local): (SocketAddr, SocketAddr),
        now: Instant,
        handshake_deadline: Instant,
    ) -> Self {
        Session {
            connection: Connection::new(broker, peer, local),
            input_broken: false,
            large_body: None,
            finished: false,
            memory_alarm: false,
            last_received: now,
            last_sent: now,
            handshake_deadline,
            close_deadline: None,
            linger_deadline: None,
        }
    }

    pub fn id(&self) -> crate::model::queue::ConnectionId {
        self.connection.id()
    }

    /// The largest frame the client may send, and we send (the negotiated `frame_max`).
    pub fn frame_max(&self) -> u32 {
        self.connection.frame_max()
    }

    /// Where queues hand this session its deliveries; wait on it, then call
    /// [`Session::take_deliveries`].
    pub fn outbox(&self) -> &Arc<Outbox> {
        self.connection.outbox()
    }

    /// Bytes read from the socket at `now` were appended to `input`: every whole frame is cut
    /// off and handled. Frames stay in `input` while the session does not take them (a
    /// publisher blocked by the memory alarm); a partial frame stays for the next read.
    pub fn receive(&mut self, input: &mut BytesMut, now: Instant) {
        self.last_received = now;
        if self.connection.phase() == Phase::AwaitSocketClose || self.input_broken {
            // Nothing more is meant for us: RabbitMQ discards what comes after close-ok.
            input.clear();
            return;
        }
        self.handle_input(input);
        self.guarded(Connection::flush_confirms);
        self.after_step(now);
    }

    fn handle_input(&mut self, input: &mut BytesMut) {
        while !self.input_broken && self.connection.phase().reads_frames() {
            if self.block_if_alarmed() {
                return;
            }
            if let Some(large) = self.large_body.take() {
                if !large.is_complete() {
                    self.large_body = Some(large);
                    return;
                }
                match large.finish(input) {
                    Ok(Ok(frame)) => self.guarded(|connection| connection.handle_frame(frame)),
                    Ok(Err(waiting_for_its_end)) => {
                        self.large_body = Some(waiting_for_its_end);
                        return;
                    }
                    Err(error) => return self.undecodable(input, error),
                }
                continue;
            }
            let frame_max = self.connection.frame_max();
            match decode_frame(input, frame_max) {
                Ok(Some(frame)) => self.guarded(|connection| connection.handle_frame(frame)),
                Ok(None) => {
                    if frame_max != 0 {
                        self.large_body = LargeBody::take(input, LARGE_BODY_MIN);
                    }
                    // What the body's start took in the buffer is room again, but room for
                    // reads as small: below a quarter of a buffer, a fresh one is read into
                    // (16 KiB bodies went 25 % slower), and the room is left unused.
                    if self.large_body.is_some() && input.capacity() < READ_BUFFER_SIZE / 4 {
                        *input = BytesMut::with_capacity(READ_BUFFER_SIZE);
                    }
                    return;
                }
                Err(error) => return self.undecodable(input, error),
            }
        }
    }

    /// The input cannot be decoded: the connection is closed, as RabbitMQ closes it.
    fn undecodable(&mut self, input: &mut BytesMut, error: FrameDecodeError) {
        self.input_broken = true;
        input.clear();
        self.large_body = None;
        if error.abrupt {
            // RabbitMQ's reader crashes on these and the socket just closes.
            warn!(
                connection = self.id(),
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

    /// The pump read `bytes` from the socket (into [`Session::read_buffer`]): counted for the
    /// read side, as RabbitMQ's `recv_oct` and `recv_cnt`.
    pub fn count_read(&mut self, bytes: usize) {
        let traffic = &mut self.connection.traffic;
        traffic.recv_oct += bytes as u64;
        traffic.recv_cnt += 1;
    }

    /// Where the pump reads the socket into next: `input`, or, while a large body frame is
    /// read into an allocation of its own, that frame's payload (see [`LARGE_BODY_MIN`]).
    pub fn read_buffer<'a>(&'a mut self, input: &'a mut BytesMut) -> &'a mut BytesMut {
        match &mut self.large_body {
            Some(large) if !large.is_complete() => large.payload_mut(),
            _ => input,
        }
    }

    /// RabbitMQ blocks a publisher at its next frame under the memory alarm. True when blocked.
    fn block_if_alarmed(&mut self) -> bool {
        let open = self.connection.phase() == Phase::Open;
        if !(open && self.memory_alarm && self.connection.has_published()) {
            return false;
        }
        if self.connection.set_blocked(true, "low on memory") {
            warn!(
                connection = self.id(),
                "blocked: memory alarm, not reading from this publisher"
            );
        }
        true
    }

    /// The memory alarm was raised or cleared. True when this unblocked the session: the pump
    /// then gives it the input it held back ([`Session::receive`]).
    pub fn set_memory_alarm(&mut self, raised: bool) -> bool {
        self.memory_alarm = raised;
        if raised || !self.connection.set_blocked(false, "") {
            return false;
        }
        info!(
            connection = self.id(),
            "unblocked: memory is back under the watermark"
        );
        true
    }

    /// Does what other doors asked (see [`Outbox::requested`]): close the connection with
    /// 320 CONNECTION_FORCED and their reason, as RabbitMQ's management does.
    pub fn take_requests(&mut self, now: Instant) {
        for request in self.connection.outbox().take_requests() {
            match request {
                Request::Close { reason } => {
                    info!(connection = self.id(), %reason, "closing the connection on request");
                    let forced = AmqpError::new(CONNECTION_FORCED, reason);
                    self.connection.fail_connection(forced);
                }
                Request::ConsumerCancelled { channel, reason } => {
                    self.connection
                        .consumer_cancelled_from_outside(channel, reason);
                }
            }
        }
        self.after_step(now);
    }

    /// Writes the deliveries waiting in the outbox (see [`Session::outbox`]).
    pub fn take_deliveries(&mut self, now: Instant) {
        self.guarded(Connection::drain_outbox);
        self.after_step(now);
    }

    /// The broker is stopping: `connection.close` 320 (CONNECTION_FORCED) to an open
    /// connection, the socket closed on one still in the handshake.
    pub fn close_for_shutdown(&mut self, now: Instant) {
        self.connection.close_for_shutdown();
        self.after_step(now);
    }

    /// Moves what is ready to be written into `out` when `out` is empty (it was all written):
    /// the two buffers trade places, so neither is reallocated, and the one just drained is
    /// written into next (an idle connection keeps one buffer's first page touched, not two:
    /// 4 KiB a connection). True when `out` has bytes to write. Handing bytes over counts as
    /// sending them, for the heartbeat.
    pub fn poll_transmit(&mut self, out: &mut BytesMut, now: Instant) -> bool {
        if out.is_empty() {
            let output = self.connection.output();
            std::mem::swap(out, output);
            if !out.is_empty() {
                self.last_sent = now;
                let traffic = &mut self.connection.traffic;
                traffic.send_oct += out.len() as u64;
                traffic.send_cnt += 1;
            }
        }
        !out.is_empty()
    }

    /// Bytes produced and not yet handed over by [`Session::poll_transmit`].
    pub fn unsent(&mut self) -> usize {
        self.connection.output().len()
    }

    /// Whether the pump should read the socket: not while the client is blocked, nor once the
    /// input is broken. After close-ok we read on, to see the client close.
    pub fn wants_input(&self) -> bool {
        let phase = self.connection.phase();
        let blocked = self.connection.is_blocked() && phase == Phase::Open;
        !self.finished && !self.input_broken && !blocked && phase != Phase::Closed
    }

    /// Whether deliveries may be taken from the outbox now.
    pub fn wants_deliveries(&self) -> bool {
        self.connection.phase() == Phase::Open
    }

    /// Whether the connection has not reached `connection.open` yet.
    pub fn in_handshake(&self) -> bool {
        matches!(
            self.connection.phase(),
            Phase::AwaitStartOk | Phase::AwaitTuneOk | Phase::AwaitOpen
        )
    }

    /// Whether the socket is to be closed, once what was transmitted is written.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The client closed its side of the socket.
    pub fn on_eof(&mut self) {
        if self.connection.phase() == Phase::Open {
            info!(
                connection = self.id(),
                "client closed the TCP connection without connection.close"
            );
        }
        self.connection.abort();
        self.finished = true;
    }

    /// When [`Session::on_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        if let Some(deadline) = self.close_deadline.or(self.linger_deadline) {
            return Some(deadline);
        }
        if self.in_handshake() {
            return Some(self.handshake_deadline);
        }
        let interval = self.heartbeat()?;
        Some((self.last_sent + interval / 2).min(self.last_received + interval * 2))
    }

    /// Does what is due at `now`: a heartbeat to send, a silent peer or a passed deadline to
    /// give up on (the session is then finished).
    pub fn on_timeout(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        if self.close_deadline.is_some_and(|deadline| now >= deadline) {
            info!(
                connection = self.id(),
                "no close-ok in time; dropping the connection"
            );
            return self.finish();
        }
        if self.linger_deadline.is_some_and(|deadline| now >= deadline) {
            return self.finish();
        }
        if self.close_deadline.is_some() || self.linger_deadline.is_some() {
            return;
        }
        if self.in_handshake() {
            if now >= self.handshake_deadline {
                warn!(
                    connection = self.id(),
                    "handshake not finished within the timeout; closing"
                );
                self.finish();
            }
            return;
        }
        let Some(interval) = self.heartbeat() else {
            return;
        };
        if self.connection.is_blocked() {
            // Not reading, so not hearing the client either: RabbitMQ pauses its heartbeat
            // monitor while a connection is blocked.
            self.last_received = now;
        }
        if now >= self.last_received + interval * 2 {
            warn!(
                connection = self.id(),
                "missed heartbeats from client, timeout: {}s",
                interval.as_secs()
            );
            return self.finish();
        }
        if now >= self.last_sent + interval / 2 {
            let output = self.connection.output();
            if output.is_empty() {
                Frame::Heartbeat { channel: 0 }.encode(output);
            }
            // Counted as sent now, so the timer does not spin until the pump writes it.
            self.last_sent = now;
        }
    }

    /// Reports the step to the broker's read side, and starts the timers that follow it: a
    /// close sent or answered.
    fn after_step(&mut self, now: Instant) {
        self.guarded(Connection::report);
        match self.connection.phase() {
            Phase::Closing if self.close_deadline.is_none() => {
                self.close_deadline = Some(now + CLOSE_OK_TIMEOUT);
            }
            Phase::AwaitSocketClose if self.linger_deadline.is_none() => {
                let linger = self.heartbeat().map_or(LINGER_MAX, |hb| hb.min(LINGER_MAX));
                self.linger_deadline = Some(now + linger);
            }
            Phase::Closed => self.finish(),
            _ => {}
        }
    }

    fn finish(&mut self) {
        self.connection.abort();
        self.finished = true;
    }

    fn heartbeat(&self) -> Option<Duration> {
        match self.connection.heartbeat() {
            0 => None,
            secs => Some(Duration::from_secs(secs.into())),
        }
    }

    /// Runs one step of the state machine; see [`guarded`]. After a panic nothing more is read.
    fn guarded(&mut self, step: impl FnOnce(&mut Connection)) {
        if !guarded(&mut self.connection, step) {
            self.input_broken = true;
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
mod tests;
