//! The connection state machine: decoded frames in, encoded frames out. It never touches a
//! socket; the server feeds it frames, wakes it when its outbox has work, and writes whatever
//! it leaves in [`Connection::output`].
//!
//! ```text
//!  (protocol header checked by the server)
//!  AwaitStartOk --start-ok--> AwaitTuneOk --tune-ok--> AwaitOpen --open--> Open
//!        \_______________________ any error ___________________________/   |
//!                                   v                                      | connection.close
//!                        Closing (close sent, waiting for close-ok) --> Closed <-+
//! ```
//! Frames on channels other than 0 go to the channel table once the connection is open.

use foldhash::{HashMap, HashMapExt};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::BytesMut;
use tracing::{debug, info, warn};
use warren_wire::{
    encode_message, encode_method_frame, reply_code, ContentMethod, FieldTable, FieldValue, Frame,
    Method, ShortStr, FRAME_MIN_SIZE,
};
use warren_wire::{
    ConnectionClose, ConnectionCloseOk, ConnectionOpenOk, ConnectionStart, ConnectionTune,
};

use crate::auth::{self, SaslError};
use crate::error::{AmqpError, AmqpResult};
use crate::limits::{FRAME_MAX, HEARTBEAT_SECS};
use crate::model::access;
use crate::model::actor::Actor;
use crate::model::admission::Admission;
use crate::model::connections::{ConnectionEntry, Traffic};
use crate::model::exchange::PublishTally;
use crate::model::message::Message;
use crate::model::queue::{ConnectionId, Footprint, Queue};
use crate::model::stats::{ChurnEvent, MessageStats};
use crate::model::users::LivePermissions;
use crate::model::vhost::{RouteScratch, VHost};
use crate::session::channel::Channel;
use crate::session::outbox::{Outbox, Outgoing};
use crate::Broker;

/// The size of the buffers the server reads a connection's frames into: what a message that
/// is a view into one keeps allocated (see `message.rs`).
pub const READ_BUFFER_SIZE: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    AwaitStartOk,
    AwaitTuneOk,
    AwaitOpen,
    Open,
    /// We sent `connection.close` and wait for `close-ok`; everything else is discarded.
    Closing,
    /// We answered the client's `connection.close` with close-ok: the socket is the client's
    /// to close (the spec: close-ok tells its recipient it may now close the socket).
    AwaitSocketClose,
    /// Done: the server flushes the output and closes the socket.
    Closed,
}

impl Phase {
    /// Whether frames from the client still mean something.
    pub fn reads_frames(self) -> bool {
        !matches!(self, Phase::AwaitSocketClose | Phase::Closed)
    }
}

/// What the client said it understands, from `client-properties.capabilities`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ClientCapabilities {
    pub consumer_cancel_notify: bool,
    pub authentication_failure_close: bool,
    pub connection_blocked: bool,
}

pub struct Connection {
    pub(crate) id: ConnectionId,
    pub(crate) broker: Arc<Broker>,
    pub(crate) phase: Phase,
    /// Who this connection acts as in its vhost, from `connection.open` on.
    pub(crate) actor: Option<Actor>,
    /// This connection's place in its vhost's connection count.
    admission: Option<Admission>,
    pub(crate) user: ShortStr,
    /// The user has RabbitMQ's `impersonator` tag: may publish with another `user-id`.
    pub(crate) impersonator: bool,
    /// The client's address: some users may only log in over loopback.
    peer: IpAddr,
    /// How other doors see this connection (see `report.rs`).
    pub(crate) entry: Arc<ConnectionEntry>,
    /// The client's properties, encoded in one allocation, until the registry has them.
    pub(crate) client_properties: Option<bytes::Bytes>,
    /// What this connection counted, published to `entry` once per batch.
    pub(crate) stats: MessageStats,
    /// What the socket carried (counted by [`crate::Session`]).
    pub(crate) traffic: Traffic,
    /// Publishes to the exchange published to last, not yet added to its counters.
    pub(crate) exchange_tally: PublishTally,
    pub(crate) capabilities: ClientCapabilities,
    pub(crate) channel_max: u16,
    pub(crate) frame_max: u32,
    heartbeat: u16,
    pub(crate) channels: HashMap<u16, Channel>,
    /// Whether the broker has told the client it is blocked (see [`Connection::set_blocked`]).
    blocked: bool,
    /// Whether the client has published: only publishers are blocked by the memory alarm.
    pub(crate) has_published: bool,
    /// Channels in confirm mode with acks held back (see `Connection::flush_confirms`).
    pub(crate) confirming: Vec<u16>,
    /// Exclusive queues this connection declared: deleted when it closes.
    pub(crate) exclusive_queues: Vec<Arc<Queue>>,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) out: BytesMut,
    /// Reused buffers, so the steady state allocates nothing per message.
    pub(crate) scratch_outgoing: Vec<Outgoing>,
    pub(crate) scratch_queues: Vec<Arc<Queue>>,
    pub(crate) scratch_written: Vec<(Arc<Queue>, Footprint)>,
    pub(crate) route_scratch: RouteScratch,
    /// A queue without consumer that has kept every message this connection published since
    /// the first of them, and their bytes (see [`Connection::enqueue`]).
    pub(crate) kept_run: Option<(Arc<Queue>, usize)>,
}

impl Connection {
    /// A connection from `peer` to our `local` address whose protocol header has been
    /// accepted: `connection.start` is queued, and the broker lists the connection.
    pub fn new(broker: Arc<Broker>, peer: SocketAddr, local: SocketAddr) -> Self {
        let id = broker.next_connection_id();
        let channel_max = broker.limits.channel_max;
        let outbox = Arc::new(Outbox::default());
        let entry = Arc::new(ConnectionEntry::new(id, peer, local, outbox.clone()));
        broker.connections().insert(Arc::clone(&entry));
        broker.churn().count(ChurnEvent::ConnectionCreated, 1);
        let mut connection = Connection {
            id,
            broker,
            phase: Phase::AwaitStartOk,
            actor: None,
            admission: None,
            user: ShortStr::default(),
            impersonator: false,
            peer: peer.ip(),
            entry,
            client_properties: None,
            stats: MessageStats::default(),
            traffic: Traffic::default(),
            exchange_tally: PublishTally::default(),
            capabilities: ClientCapabilities::default(),
            channel_max,
            // RabbitMQ's `initial_frame_max`: until tune-ok, no frame may exceed the minimum.
            frame_max: FRAME_MIN_SIZE,
            heartbeat: 0,
            channels: HashMap::new(),
            blocked: false,
            has_published: false,
            confirming: Vec::new(),
            exclusive_queues: Vec::new(),
            outbox,
            out: BytesMut::with_capacity(16 * 1024),
            scratch_outgoing: Vec::new(),
            scratch_queues: Vec::new(),
            scratch_written: Vec::new(),
            route_scratch: RouteScratch::default(),
            kept_run: None,
        };
        let start = ConnectionStart {
            version_major: 0,
            version_minor: 9,
            server_properties: server_properties(),
            mechanisms: auth::MECHANISMS.into(),
            locales: "en_US".into(),
        };
        connection.send(0, start.into());
        connection
    }

    pub fn id(&self) -> ConnectionId {
        self.id
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The largest frame the peer may send us (the negotiated `frame_max`).
    pub fn frame_max(&self) -> u32 {
        self.frame_max
    }

    /// The heartbeat interval in seconds the client asked for in `tune-ok` (0: none).
    pub fn heartbeat(&self) -> u16 {
        self.heartbeat
    }

    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// Encoded frames waiting to be written.
    pub fn output(&mut self) -> &mut BytesMut {
        &mut self.out
    }

    pub(crate) fn send(&mut self, channel: u16, method: Method) {
        encode_method_frame(channel, &method, &mut self.out);
    }

    /// Writes `message` out behind `method`: its exchange, routing key, header and body as
    /// the message keeps them.
    pub(crate) fn send_message(
        &mut self,
        channel: u16,
        method: ContentMethod<'_>,
        message: &Message,
    ) {
        let (header, body) = (message.header(), message.body());
        encode_message(
            channel,
            &method,
            &header,
            body,
            self.frame_max,
            &mut self.out,
        );
    }

    /// Handles one frame from the client. Errors are answered here (channel.close or
    /// connection.close); afterwards [`Connection::phase`] says whether to go on.
    pub fn handle_frame(&mut self, frame: Frame) {
        if let Err(error) = self.dispatch_frame(frame) {
            self.fail_connection(error);
        }
    }

    /// A fault found below the state machine (an undecodable frame): close with its code.
    pub fn fail_connection(&mut self, error: AmqpError) {
        if !matches!(
            self.phase,
            Phase::AwaitStartOk | Phase::AwaitTuneOk | Phase::AwaitOpen | Phase::Open
        ) {
            return;
        }
        warn!(
            connection = self.id,
            code = error.code,
            "closing connection: {}",
            error.reply_text()
        );
        self.release_all();
        let refused_login =
            self.phase == Phase::AwaitStartOk && error.code == reply_code::ACCESS_REFUSED;
        if refused_login && !self.capabilities.authentication_failure_close {
            // RabbitMQ explains a refused login only to clients that announce
            // `authentication_failure_close`; older clients just see the socket close.
            self.phase = Phase::Closed;
            return;
        }
        self.send(
            0,
            ConnectionClose {
                reply_code: error.code,
                reply_text: error.reply_text(),
                class_id: error.class_id,
                method_id: error.method_id,
            }
            .into(),
        );
        self.phase = Phase::Closing;
    }

    /// Flow control: a blocked connection may not publish (the server stops reading from it).
    /// Clients that announced the `connection.blocked` capability are told, with
    /// `connection.blocked` / `connection.unblocked`, each sent once per change, as RabbitMQ
    /// does. Returns whether anything changed.
    pub fn set_blocked(&mut self, blocked: bool, reason: &str) -> bool {
        if self.blocked == blocked {
            return false;
        }
        self.blocked = blocked;
        if self.phase == Phase::Open && self.capabilities.connection_blocked {
            let notice = if blocked {
                warren_wire::ConnectionBlocked {
                    reason: ShortStr::try_from(reason.to_string()).unwrap_or_default(),
                }
                .into()
            } else {
                warren_wire::ConnectionUnblocked::default().into()
            };
            self.send(0, notice);
        }
        true
    }

    pub fn is_blocked(&self) -> bool {
        self.blocked
    }

    pub fn has_published(&self) -> bool {
        self.has_published
    }

    /// Ends the connection without a word to the client (it sent something we cannot parse).
    pub fn abort(&mut self) {
        self.release_all();
        self.phase = Phase::Closed;
    }

    /// The broker is stopping: tell the client as RabbitMQ does (320 CONNECTION_FORCED).
    pub fn close_for_shutdown(&mut self) {
        let error = AmqpError::new(
            reply_code::CONNECTION_FORCED,
            "broker forced connection closure with reason 'shutdown'",
        );
        if self.phase == Phase::Open {
            self.fail_connection(error);
        } else {
            self.release_all();
            self.phase = Phase::Closed;
        }
    }

    fn dispatch_frame(&mut self, frame: Frame) -> AmqpResult<()> {
        match self.phase {
            Phase::Closed | Phase::AwaitSocketClose => Ok(()),
            Phase::Closing => {
                match frame {
                    Frame::Method {
                        channel: 0,
                        method: Method::ConnectionCloseOk(_),
                    } => self.phase = Phase::Closed,
                    Frame::Method {
                        channel: 0,
                        method: Method::ConnectionClose(_),
                    } => {
                        self.send(0, ConnectionCloseOk::default().into());
                        self.phase = Phase::Closed;
                    }
                    _ => {}
                }
                Ok(())
            }
            Phase::Open => self.dispatch_open(frame),
            _ => match frame {
                Frame::Method { channel: 0, method } => self.handshake(method),
                Frame::Heartbeat { channel: 0 } => Ok(()),
                _ => Err(AmqpError::command_invalid(
                    "frame not expected during the handshake",
                )),
            },
        }
    }

    fn dispatch_open(&mut self, frame: Frame) -> AmqpResult<()> {
        match frame {
            Frame::Heartbeat { channel: 0 } => Ok(()),
            Frame::Heartbeat { channel } => Err(AmqpError::frame_error(format!(
                "heartbeat frame on channel {channel}"
            ))),
            Frame::Method { channel: 0, method } => self.connection_method(method),
            Frame::Header { channel: 0, .. } | Frame::Body { channel: 0, .. } => {
                Err(AmqpError::unexpected_frame("content frame on channel 0"))
            }
            frame => self.channel_frame(frame),
        }
    }

    fn handshake(&mut self, method: Method) -> AmqpResult<()> {
        let caused_by = |e: AmqpError| e.caused_by(&method);
        match (self.phase, &method) {
            (Phase::AwaitStartOk, Method::ConnectionStartOk(start_ok)) => {
                self.capabilities = client_capabilities(&start_ok.client_properties);
                let mut encoded = BytesMut::new();
                start_ok.client_properties.encode(&mut encoded);
                self.client_properties = Some(encoded.freeze());
                self.login(&start_ok.mechanism, &start_ok.response)
                    .map_err(caused_by)?;
                self.phase = Phase::AwaitTuneOk;
                let tune = ConnectionTune {
                    channel_max: self.broker.limits.channel_max,
                    frame_max: FRAME_MAX,
                    heartbeat: HEARTBEAT_SECS,
                };
                self.send(0, tune.into());
                Ok(())
            }
            (Phase::AwaitTuneOk, Method::ConnectionTuneOk(tune_ok)) => {
                self.channel_max = negotiate(
                    "channel_max",
                    tune_ok.channel_max.into(),
                    1,
                    self.broker.limits.channel_max.into(),
                )
                .map_err(caused_by)? as u16;
                self.frame_max =
                    negotiate("frame_max", tune_ok.frame_max, FRAME_MIN_SIZE, FRAME_MAX)
                        .map_err(caused_by)?;
                // Whatever the client says is the interval, even where we proposed another or
                // none: aioamqp enforces its own value and drops a silent broker.
                self.heartbeat = tune_ok.heartbeat;
                self.phase = Phase::AwaitOpen;
                Ok(())
            }
            (Phase::AwaitOpen, Method::ConnectionOpen(open)) => {
                let vhost = self
                    .broker
                    .vhost(open.virtual_host.as_bytes())
                    .ok_or_else(|| {
                        AmqpError::not_allowed(format!("vhost {} not found", open.virtual_host))
                            .caused_by(&method)
                    })?;
                // RabbitMQ checks that the vhost exists, then its connection limit, then the
                // user's access to it.
                let admission = vhost.admit(&self.user.to_string()).map_err(caused_by)?;
                self.admission = Some(admission);
                let permissions = LivePermissions::fetch(
                    self.broker.users(),
                    &self.user.to_string(),
                    &vhost.name.to_string(),
                )
                .ok_or_else(|| {
                    AmqpError::not_allowed(format!(
                        "access to vhost '{}' refused for user '{}'",
                        vhost.name, self.user
                    ))
                    .caused_by(&method)
                })?;
                self.actor = Some(Actor {
                    vhost,
                    user: self.user.clone(),
                    permissions,
                    impersonator: self.impersonator,
                    connection: self.id,
                });
                self.phase = Phase::Open;
                self.send(0, ConnectionOpenOk::default().into());
                info!(connection = self.id, user = %self.user, "connection open");
                Ok(())
            }
            _ => Err(AmqpError::command_invalid(format!(
                "unexpected method {} during the handshake",
                method.name()
            ))
            .caused_by(&method)),
        }
    }

    fn login(&mut self, mechanism: &ShortStr, response: &[u8]) -> AmqpResult<()> {
        let credentials =
            auth::parse_response(mechanism.as_bytes(), response).map_err(|e| match e {
                SaslError::UnknownMechanism => AmqpError::command_invalid(format!(
                    "unknown authentication mechanism '{mechanism}'"
                )),
                SaslError::Malformed => refused_login(mechanism),
            })?;
        let user = self.broker.users().authenticate(&credentials).ok_or_else(|| {
            warn!(connection = self.id, user = %String::from_utf8_lossy(&credentials.user), "login refused: wrong user name or password");
            refused_login(mechanism)
        })?;
        if !access::is_loopback(self.peer) && self.broker.users().is_loopback_only(&user.name) {
            warn!(connection = self.id, peer = %self.peer, "login refused: user '{}' can only connect via localhost", user.name);
            return Err(refused_login(mechanism));
        }
        self.user = ShortStr::try_from(user.name.clone()).map_err(|_| refused_login(mechanism))?;
        self.impersonator = user.tags.iter().any(|tag| tag == "impersonator");
        Ok(())
    }

    fn connection_method(&mut self, method: Method) -> AmqpResult<()> {
        match method {
            Method::ConnectionClose(close) => {
                debug!(
                    connection = self.id,
                    code = close.reply_code,
                    "client closed the connection"
                );
                self.release_all();
                self.send(0, ConnectionCloseOk::default().into());
                self.phase = Phase::AwaitSocketClose;
                Ok(())
            }
            Method::ConnectionUpdateSecret(_) => {
                // Passwords do not expire here; RabbitMQ answers update-secret-ok the same way
                // for mechanisms without expiring secrets.
                self.send(0, warren_wire::ConnectionUpdateSecretOk::default().into());
                Ok(())
            }
            // The client's own blocked/unblocked notifications carry no meaning for a broker.
            Method::ConnectionBlocked(_) | Method::ConnectionUnblocked(_) => Ok(()),
            other => Err(AmqpError::command_invalid(format!(
                "unexpected method {} on channel 0",
                other.name()
            ))
            .caused_by(&other)),
        }
    }

    /// Who the connection acts as: known once it is open.
    pub(crate) fn actor(&self) -> AmqpResult<&Actor> {
        self.actor
            .as_ref()
            .ok_or_else(|| AmqpError::internal_error("connection has no vhost"))
    }

    pub(crate) fn open_vhost(&self) -> AmqpResult<Arc<VHost>> {
        self.actor().map(|actor| Arc::clone(&actor.vhost))
    }

    /// Counts on the connection and on its channel `id` (RabbitMQ shows both).
    pub(crate) fn count(&mut self, id: u16, count: impl Fn(&mut MessageStats)) {
        count(&mut self.stats);
        if let Some(channel) = self.channels.get_mut(&id) {
            count(&mut channel.stats);
        }
    }

    pub(crate) fn channel_mut(&mut self, id: u16) -> AmqpResult<&mut Channel> {
        self.channels
            .get_mut(&id)
            .ok_or_else(|| AmqpError::channel_error(format!("channel {id} is not open")))
    }

    /// Frees everything the connection holds: channels (their unacked messages go back to
    /// their queues), exclusive queues, and deliveries that were on their way. Idempotent.
    pub fn release_all(&mut self) {
        let ids: Vec<u16> = self.channels.keys().copied().collect();
        for id in ids {
            self.release_channel(id);
        }
        if let Ok(vhost) = self.open_vhost() {
            for queue in std::mem::take(&mut self.exclusive_queues) {
                vhost.remove_queue(&queue);
            }
        }
        // Consumers are detached from their queues by now, so nothing more can arrive.
        self.requeue_undelivered();
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.release_all();
        self.report();
        self.broker.connections().remove(self.id);
        let churn = self.broker.churn();
        churn.count(ChurnEvent::ConnectionClosed, 1);
        churn.count(ChurnEvent::ChannelClosed, self.channels.len() as u64);
        if let Ok(vhost) = self.open_vhost() {
            // What the connection counted stays in its vhost's totals.
            vhost.retire_stats(&self.stats);
        }
    }
}

fn refused_login(mechanism: &ShortStr) -> AmqpError {
    AmqpError::access_refused(format!(
        "Login was refused using authentication mechanism {mechanism}. For details see the broker logfile."
    ))
}

/// RabbitMQ's rule for `tune-ok` values: 0 or above our proposal is refused (530), and so is
/// a value under the protocol minimum.
fn negotiate(field: &str, client: u32, min: u32, max: u32) -> AmqpResult<u32> {
    if client != 0 && client < min {
        return Err(AmqpError::not_allowed(format!(
            "{field}={client} < {min} min size"
        )));
    }
    if client == 0 || client > max {
        return Err(AmqpError::not_allowed(format!(
            "{field}={client} > {max} max size"
        )));
    }
    Ok(client)
}

fn client_capabilities(properties: &FieldTable) -> ClientCapabilities {
    let Some(FieldValue::Table(capabilities)) = properties.get(b"capabilities") else {
        return ClientCapabilities::default();
    };
    let flag = |key: &[u8]| matches!(capabilities.get(key), Some(FieldValue::Bool(true)));
    ClientCapabilities {
        consumer_cancel_notify: flag(b"consumer_cancel_notify"),
        authentication_failure_close: flag(b"authentication_failure_close"),
        connection_blocked: flag(b"connection.blocked"),
    }
}

/// `server-properties` for `connection.start`.
///
/// `product` is "RabbitMQ" on purpose: Celery and kombu choose their QoS semantics from it
/// (RabbitMQ ≥ 3.3 gets `global=True` for a per-channel limit, which Warren implements as
/// RabbitMQ does). `information` and `warren_version` say what is really answering.
fn server_properties() -> FieldTable {
    let text = |s: &'static str| FieldValue::LongStr(bytes::Bytes::from_static(s.as_bytes()));
    let mut capabilities = FieldTable::new();
    // In RabbitMQ's order: clients may not care, but the wire should be the same.
    for capability in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "consumer_priorities",
        "authentication_failure_close",
        "per_consumer_qos",
        "direct_reply_to",
    ] {
        capabilities.insert(ShortStr::from_static(capability), FieldValue::Bool(true));
    }
    let mut properties = FieldTable::new();
    properties.insert("capabilities", FieldValue::Table(capabilities));
    properties.insert("product", text("RabbitMQ"));
    properties.insert("version", text(crate::RABBITMQ_VERSION));
    properties.insert("platform", text("Rust"));
    properties.insert("cluster_name", text(crate::NODE_NAME));
    properties.insert("copyright", text("The Warren developers"));
    properties.insert(
        "information",
        text("Warren, an AMQP 0-9-1 broker compatible with RabbitMQ"),
    );
    properties.insert("warren_version", text(env!("CARGO_PKG_VERSION")));
    properties
}
