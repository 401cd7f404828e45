//! The trivial sink: a fake broker that answers the handshake and every setup method with its
//! `-ok`, and turns each published message into a `basic.deliver` to the next consumer
//! (round-robin over all consumers, whatever the exchange, key or queue), with empty
//! properties. It confirms (one `ack multiple=true` per read) and ignores acks and prefetch.
//! Pointing the load tool at it measures the tool's own ceiling: a broker can't be measured
//! faster than this.
//!
//! Each connection has a reader task (decoding, answering, routing) and a writer task fed by a
//! bounded channel of encoded batches, which gives back-pressure from slow consumers to
//! publishers.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use warren_wire::{
    decode_frame, encode_method_frame, encode_method_with_content, BasicAck, BasicCancelOk,
    BasicConsumeOk, BasicDeliver, BasicProperties, BasicQosOk, ChannelCloseOk, ChannelOpenOk,
    ConfirmSelectOk, ConnectionCloseOk, ConnectionOpenOk, ConnectionStart, ConnectionTune,
    ContentHeader, ExchangeDeclareOk, FieldTable, Method, QueueBindOk, QueueDeclareOk,
    QueueDeleteOk, ShortStr, PROTOCOL_HEADER,
};

use crate::client::{Assembler, Incoming};

const FRAME_MAX: u32 = 131_072;
const BATCHES_IN_FLIGHT: usize = 64;

struct ConsumerRef {
    connection: u64,
    channel: u16,
    tag: ShortStr,
    tx: mpsc::Sender<Bytes>,
    /// The delivery tags of the consumer's connection.
    next_tag: Arc<AtomicU64>,
}

#[derive(Default)]
struct Registry {
    consumers: Mutex<Vec<Arc<ConsumerRef>>>,
    round_robin: AtomicUsize,
    connections: AtomicU64,
}

impl Registry {
    fn next_consumer(&self) -> Option<Arc<ConsumerRef>> {
        let consumers = self.consumers.lock().ok()?;
        if consumers.is_empty() {
            return None;
        }
        let i = self.round_robin.fetch_add(1, Ordering::Relaxed) % consumers.len();
        Some(Arc::clone(&consumers[i]))
    }

    fn remove(&self, connection: u64, tag: Option<&ShortStr>) {
        if let Ok(mut consumers) = self.consumers.lock() {
            consumers.retain(|c| c.connection != connection || tag.is_some_and(|t| *t != c.tag));
        }
    }
}

/// A running sink.
pub struct Sink {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Sink {
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@{}/%2F", self.addr)
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

/// Listens on 127.0.0.1:`port` (0: any free port) and serves on the current runtime.
pub async fn start(port: u16) -> io::Result<Sink> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let registry = Arc::new(Registry::default());
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let registry = Arc::clone(&registry);
            tokio::spawn(async move {
                let id = registry.connections.fetch_add(1, Ordering::Relaxed);
                let _ = serve(stream, id, &registry).await;
            });
        }
    });
    Ok(Sink { addr, task })
}

async fn serve(stream: TcpStream, id: u64, registry: &Registry) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (mut reader, mut writer) = stream.into_split();
    let mut header = [0u8; 8];
    reader.read_exact(&mut header).await?;
    if &header != PROTOCOL_HEADER {
        writer.write_all(PROTOCOL_HEADER).await?;
        return Ok(());
    }
    let (tx, mut rx) = mpsc::channel::<Bytes>(BATCHES_IN_FLIGHT);
    let write_task = tokio::spawn(async move {
        while let Some(batch) = rx.recv().await {
            if writer.write_all(&batch).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    let mut conn = SinkConnection {
        id,
        tx,
        out: BytesMut::new(),
        next_tag: Arc::new(AtomicU64::new(1)),
        confirming: Vec::new(),
        batches: Vec::new(),
    };
    conn.send(
        0,
        ConnectionStart {
            version_major: 0,
            version_minor: 9,
            server_properties: FieldTable::new(),
            mechanisms: Bytes::from_static(b"PLAIN"),
            locales: Bytes::from_static(b"en_US"),
        },
    );
    conn.flush().await;
    let result = conn.read_loop(&mut reader, registry).await;
    // The registry's consumers hold senders to our writer: forget them first, or the writer
    // would wait for them forever.
    registry.remove(id, None);
    drop(conn);
    let _ = write_task.await;
    result
}

struct SinkConnection {
    id: u64,
    tx: mpsc::Sender<Bytes>,
    /// Replies to this connection, sent after each read.
    out: BytesMut,
    next_tag: Arc<AtomicU64>,
    /// (channel, messages published so far) of channels in confirm mode.
    confirming: Vec<(u16, u64)>,
    /// Deliveries encoded during this read, per consumer connection.
    batches: Vec<(Arc<ConsumerRef>, BytesMut)>,
}

impl SinkConnection {
    fn send(&mut self, channel: u16, method: impl Into<Method>) {
        encode_method_frame(channel, &method.into(), &mut self.out);
    }

    async fn flush(&mut self) -> bool {
        for (consumer, batch) in self.batches.drain(..) {
            let _ = consumer.tx.send(batch.freeze()).await;
        }
        if self.out.is_empty() {
            return true;
        }
        let out = self.out.split().freeze();
        self.tx.send(out).await.is_ok()
    }

    async fn read_loop(
        &mut self,
        reader: &mut tokio::net::tcp::OwnedReadHalf,
        registry: &Registry,
    ) -> io::Result<()> {
        let mut buf = BytesMut::with_capacity(256 * 1024);
        let mut assembler = Assembler::default();
        loop {
            if buf.capacity() - buf.len() < 64 * 1024 {
                buf.reserve(256 * 1024);
            }
            if reader.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
            let mut published: Vec<(u16, u64)> = Vec::new();
            loop {
                let frame = match decode_frame(&mut buf, FRAME_MAX) {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
                };
                let incoming = assembler
                    .push(frame)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                match incoming {
                    Incoming::Method(channel, method) => {
                        if !self.answer(channel, method, registry) {
                            self.flush().await;
                            return Ok(());
                        }
                    }
                    Incoming::Content(content) => {
                        if let Method::BasicPublish(publish) = content.method {
                            self.route(publish, content.body, registry);
                            match published.iter_mut().find(|(c, _)| *c == content.channel) {
                                Some((_, n)) => *n += 1,
                                None => published.push((content.channel, 1)),
                            }
                        }
                    }
                    Incoming::Nothing => {}
                }
            }
            for (channel, n) in published {
                if let Some((_, total)) = self.confirming.iter_mut().find(|(c, _)| *c == channel) {
                    *total += n;
                    let ack = BasicAck {
                        delivery_tag: *total,
                        multiple: true,
                    };
                    encode_method_frame(channel, &ack.into(), &mut self.out);
                }
            }
            if !self.flush().await {
                return Ok(());
            }
        }
    }

    /// Answers a method; false once the connection is closed.
    fn answer(&mut self, channel: u16, method: Method, registry: &Registry) -> bool {
        match method {
            Method::ConnectionStartOk(_) => self.send(
                0,
                ConnectionTune {
                    channel_max: 2047,
                    frame_max: FRAME_MAX,
                    heartbeat: 0,
                },
            ),
            Method::ConnectionOpen(_) => self.send(0, ConnectionOpenOk {}),
            Method::ConnectionClose(_) => {
                self.send(0, ConnectionCloseOk {});
                return false;
            }
            Method::ChannelOpen(_) => self.send(channel, ChannelOpenOk::default()),
            Method::ChannelClose(_) => {
                self.confirming.retain(|(c, _)| *c != channel);
                self.send(channel, ChannelCloseOk {});
            }
            Method::ExchangeDeclare(_) => self.send(channel, ExchangeDeclareOk {}),
            Method::QueueDeclare(q) => self.send(
                channel,
                QueueDeclareOk {
                    queue: q.queue,
                    message_count: 0,
                    consumer_count: 0,
                },
            ),
            Method::QueueBind(_) => self.send(channel, QueueBindOk {}),
            Method::QueueDelete(_) => self.send(channel, QueueDeleteOk { message_count: 0 }),
            Method::BasicQos(_) => self.send(channel, BasicQosOk {}),
            Method::BasicConsume(c) => {
                let consumer = ConsumerRef {
                    connection: self.id,
                    channel,
                    tag: c.consumer_tag.clone(),
                    tx: self.tx.clone(),
                    next_tag: Arc::clone(&self.next_tag),
                };
                if let Ok(mut consumers) = registry.consumers.lock() {
                    consumers.push(Arc::new(consumer));
                }
                self.send(
                    channel,
                    BasicConsumeOk {
                        consumer_tag: c.consumer_tag,
                    },
                );
            }
            Method::BasicCancel(c) => {
                registry.remove(self.id, Some(&c.consumer_tag));
                self.send(
                    channel,
                    BasicCancelOk {
                        consumer_tag: c.consumer_tag,
                    },
                );
            }
            Method::ConfirmSelect(_) => {
                if !self.confirming.iter().any(|(c, _)| *c == channel) {
                    self.confirming.push((channel, 0));
                }
                self.send(channel, ConfirmSelectOk {});
            }
            _ => {}
        }
        true
    }

    fn route(&mut self, publish: warren_wire::BasicPublish, body: Bytes, registry: &Registry) {
        let Some(consumer) = registry.next_consumer() else {
            return;
        };
        let deliver = BasicDeliver {
            consumer_tag: consumer.tag.clone(),
            delivery_tag: consumer.next_tag.fetch_add(1, Ordering::Relaxed),
            redelivered: false,
            exchange: publish.exchange,
            routing_key: publish.routing_key,
        };
        let header = ContentHeader::new(60, body.len() as u64, BasicProperties::default());
        let slot = match self
            .batches
            .iter()
            .position(|(c, _)| c.connection == consumer.connection)
        {
            Some(i) => i,
            None => {
                self.batches.push((Arc::clone(&consumer), BytesMut::new()));
                self.batches.len() - 1
            }
        };
        let out = &mut self.batches[slot].1;
        encode_method_with_content(
            consumer.channel,
            &deliver.into(),
            &header,
            &body,
            FRAME_MAX,
            out,
        );
    }
}
