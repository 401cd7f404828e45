//! The body of the `connection` fuzz target: whole connections on one broker, driven by
//! arbitrary bytes after a valid handshake. The cargo-fuzz target `fuzz/fuzz_targets/connection.rs`
//! and the corpus replay test `crates/broker/tests/fuzz_corpus.rs` both include this file with
//! `#[path]`, so CI replays the committed corpus through the very same code on stable Rust.
//!
//! The bytes are fed as `crates/server/src/connection.rs` feeds a socket's: appended to the
//! session's read buffer and given to `Session::receive`, the very entry point the server
//! uses (which cuts frames, answers decode faults, blocks publishers under the memory alarm);
//! a session that is finished is dropped. After each record every open session takes its
//! deliveries, so a message published on one is delivered on the other, and its timers run
//! at the record's time (a record advances the clock by `len` seconds, so heartbeats, the
//! close-ok deadline and the linger after close-ok fire too). A panic is a bug: the session
//! would survive it (it closes the connection with 541), but it must not happen.
//!
//! Input: a sequence of records `ctl: u8, len: u8, len bytes` (a short last record takes what
//! is left). The bits of `ctl`:
//!
//! | bit | meaning |
//! |-----|---------|
//! | 0   | which of the two client slots the bytes go to |
//! | 1   | first drop that slot's connection, as if its socket closed |
//! | 2   | a connection opened in an empty slot skips the handshake: the bytes start right after the protocol header (so `start-ok`, SASL and `tune-ok` are fuzzed too) |
//! | 3   | afterwards run the broker's timers an hour ahead: TTLs and `x-expires` pass |
//! | 4   | afterwards flip the memory alarm (a blocked publisher is not read from) |
//! | 5   | afterwards shut the slot's connection down as the server does when it stops (320) |
//!
//! A slot whose connection was dropped gets a new one, up to [`MAX_CONNECTIONS`] per input.
//! Work per input is bounded by [`MAX_INPUT_LEN`].
//!
//! Every byte the broker writes must decode as frames within the connection's `frame_max`, and
//! once every client is gone no queue may keep a consumer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use warren_broker::{Broker, BrokerConfig, Session};
use warren_wire::{
    decode_frame, encode_method_frame, ChannelOpen, ConnectionOpen, ConnectionStartOk,
    ConnectionTuneOk, FieldTable, FieldValue, Frame, Method, ShortStr,
};

/// Clients of these tests connect as if over loopback (guest may log in only so).
const LOCALHOST: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
/// The client's port and ours.
const PORTS: (u16, u16) = (40000, 5672);

/// Input beyond this is ignored.
pub const MAX_INPUT_LEN: usize = 64 * 1024;
/// Connections opened per input, the first two included.
pub const MAX_CONNECTIONS: usize = 8;

pub const SLOT_B: u8 = 1;
pub const DROP_FIRST: u8 = 2;
pub const RAW: u8 = 4;
pub const SWEEP_AFTER: u8 = 8;
pub const FLIP_ALARM_AFTER: u8 = 16;
pub const SHUTDOWN_AFTER: u8 = 32;

/// The `frame_max` the handshake negotiates (the broker's proposal, as clients accept it).
pub const FRAME_MAX: u32 = 131_072;

/// Runs one input.
pub fn run(data: &[u8]) {
    let data = &data[..data.len().min(MAX_INPUT_LEN)];
    let mut world = World::new();
    let mut rest = data;
    while let [ctl, len, tail @ ..] = rest {
        let (chunk, tail) = tail.split_at(usize::from(*len).min(tail.len()));
        rest = tail;
        world.record(*ctl, chunk);
    }
    world.close_all();
}

/// Encodes `bytes` as records for `ctl` (the first record carries `ctl`'s one-time bits, the
/// others only the slot), for seed inputs.
pub fn records(ctl: u8, bytes: &[u8], out: &mut Vec<u8>) {
    let mut first = true;
    for chunk in bytes.chunks(255) {
        out.push(if first { ctl } else { ctl & SLOT_B });
        out.push(chunk.len() as u8);
        out.extend_from_slice(chunk);
        first = false;
    }
    if bytes.is_empty() {
        out.extend_from_slice(&[ctl, 0]);
    }
}

/// The frames a client sends for the handshake: `start-ok` (PLAIN guest/guest, announcing
/// every capability the broker knows), `tune-ok` with the broker's limits and no heartbeat,
/// `connection.open` of `/`, then `channel.open` of channel 1.
pub fn handshake_bytes() -> BytesMut {
    let mut capabilities = FieldTable::new();
    for capability in [
        "consumer_cancel_notify",
        "authentication_failure_close",
        "connection.blocked",
        "publisher_confirms",
        "basic.nack",
    ] {
        capabilities.insert(capability, FieldValue::Bool(true));
    }
    let mut client_properties = FieldTable::new();
    client_properties.insert("capabilities", FieldValue::Table(capabilities));
    let methods: [(u16, Method); 4] = [
        (
            0,
            ConnectionStartOk {
                client_properties,
                mechanism: "PLAIN".into(),
                response: Bytes::from_static(b"\0guest\0guest"),
                locale: "en_US".into(),
            }
            .into(),
        ),
        (
            0,
            ConnectionTuneOk {
                channel_max: 2047,
                frame_max: FRAME_MAX,
                heartbeat: 0,
            }
            .into(),
        ),
        (
            0,
            ConnectionOpen {
                virtual_host: "/".into(),
            }
            .into(),
        ),
        (1, ChannelOpen::default().into()),
    ];
    let mut out = BytesMut::new();
    for (channel, method) in &methods {
        encode_method_frame(*channel, method, &mut out);
    }
    out
}

/// A client on loopback (guest may log in only so), and our address.
fn addresses() -> (std::net::SocketAddr, std::net::SocketAddr) {
    ((LOCALHOST, PORTS.0).into(), (LOCALHOST, PORTS.1).into())
}

/// One client connection as the server task holds it.
struct Client {
    session: Session,
    input: BytesMut,
}

struct World {
    broker: Arc<Broker>,
    slots: [Option<Client>; 2],
    opened: usize,
    /// The clock the sessions are given.
    now: Instant,
    alarm: bool,
    /// The queues the broker declared (from `queue.declare-ok`), to check at the end.
    queues: Vec<ShortStr>,
}

impl World {
    fn new() -> Self {
        let mut world = World {
            broker: Broker::new(BrokerConfig::default()),
            slots: [None, None],
            opened: 0,
            now: Instant::now(),
            alarm: false,
            queues: Vec::new(),
        };
        for slot in 0..2 {
            world.connect(slot, false);
            let client = world.slots[slot].as_ref().expect("just connected");
            assert!(
                !client.session.in_handshake() && !client.session.is_finished(),
                "the handshake opens"
            );
        }
        world
    }

    /// Opens a connection in `slot`: its protocol header was accepted, and unless `raw` the
    /// handshake frames go through the same path as the fuzz input.
    fn connect(&mut self, slot: usize, raw: bool) {
        self.opened += 1;
        let deadline = self.now + Duration::from_secs(10);
        let broker = Arc::clone(&self.broker);
        self.slots[slot] = Some(Client {
            session: Session::new(broker, addresses(), self.now, deadline),
            input: BytesMut::new(),
        });
        self.check_output(slot);
        if !raw {
            self.feed(slot, &handshake_bytes());
        }
    }

    fn record(&mut self, ctl: u8, chunk: &[u8]) {
        let slot = usize::from(ctl & SLOT_B);
        if ctl & DROP_FIRST != 0 && self.slots[slot].take().is_some() {
            // Its unacked deliveries went back to their queues, maybe to the other client.
            self.drain_all();
        }
        if self.slots[slot].is_none() && self.opened < MAX_CONNECTIONS {
            self.connect(slot, ctl & RAW != 0);
        }
        self.feed(slot, chunk);
        self.drain_all();
        self.now += Duration::from_secs(chunk.len() as u64);
        for slot in 0..2 {
            if let Some(client) = self.slots[slot].as_mut() {
                client.session.on_timeout(self.now);
                self.check_output(slot);
            }
        }
        if ctl & SWEEP_AFTER != 0 {
            self.broker
                .sweep(Instant::now() + Duration::from_secs(3600));
            self.drain_all();
        }
        if ctl & FLIP_ALARM_AFTER != 0 {
            self.alarm = !self.alarm;
            self.broker.set_memory_alarm(self.alarm);
            for slot in 0..2 {
                let Some(client) = self.slots[slot].as_mut() else {
                    continue;
                };
                if client.session.set_memory_alarm(self.alarm) {
                    // Frames read before the block are waiting in the input buffer.
                    client.session.receive(&mut client.input, self.now);
                    self.check_output(slot);
                }
            }
            self.drain_all();
        }
        if ctl & SHUTDOWN_AFTER != 0 {
            if let Some(client) = self.slots[slot].as_mut() {
                client.session.close_for_shutdown(self.now);
                self.check_output(slot);
            }
        }
        self.reap();
    }

    /// Bytes read from the slot's socket.
    fn feed(&mut self, slot: usize, chunk: &[u8]) {
        let Some(client) = self.slots[slot].as_mut() else {
            return;
        };
        if !client.session.wants_input() {
            return;
        }
        client.input.extend_from_slice(chunk);
        client.session.receive(&mut client.input, self.now);
        self.check_output(slot);
    }

    /// Every open connection takes the deliveries other connections (or its own) queued.
    fn drain_all(&mut self) {
        for slot in 0..2 {
            if let Some(client) = self.slots[slot].as_mut() {
                if client.session.wants_deliveries() {
                    client.session.take_deliveries(self.now);
                    self.check_output(slot);
                }
            }
        }
    }

    /// What the broker wrote must be whole, valid frames within the negotiated `frame_max`;
    /// it is then thrown away, as if the client read it.
    fn check_output(&mut self, slot: usize) {
        let Some(client) = self.slots[slot].as_mut() else {
            return;
        };
        let frame_max = client.session.frame_max();
        let mut output = BytesMut::new();
        client.session.poll_transmit(&mut output, self.now);
        while let Some(frame) = decode_frame(&mut output, frame_max)
            .unwrap_or_else(|e| panic!("the broker wrote an undecodable frame: {e}"))
        {
            if let Frame::Method {
                method: Method::QueueDeclareOk(ok),
                ..
            } = frame
            {
                if self.queues.len() < 64 && !self.queues.contains(&ok.queue) {
                    self.queues.push(ok.queue.detached());
                }
            }
        }
        assert!(output.is_empty(), "the broker wrote a partial frame");
    }

    /// Every client goes away; then no queue may still have a consumer: each belonged to a
    /// connection that is gone, and a consumer left behind would take messages to nowhere.
    fn close_all(&mut self) {
        self.slots = [None, None];
        let vhost = self.broker.vhost(b"/").expect("the default vhost exists");
        for name in &self.queues {
            if let Ok(queue) = vhost.queue(name.as_bytes()) {
                assert_eq!(
                    queue.consumer_count(),
                    0,
                    "queue {name} kept a consumer after every connection closed"
                );
            }
        }
    }

    /// Connections that are done are dropped, as the server's task ends.
    fn reap(&mut self) {
        let mut dropped = false;
        for slot in &mut self.slots {
            let done = slot.as_ref().is_some_and(|c| c.session.is_finished());
            if done {
                *slot = None;
                dropped = true;
            }
        }
        if dropped {
            self.drain_all();
        }
    }
}
