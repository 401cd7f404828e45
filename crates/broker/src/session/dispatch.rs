//! Where a channel's frames go: `channel.open`/`close` and the closing handshake, content
//! assembly (method, header, body frames, then the publish), and the method handlers of
//! `methods/`; and what a channel lets go of when it closes.
//!
//! ```text
//!  (absent) --channel.open--> Open --channel.close (client)--> (absent, close-ok sent)
//!                              |
//!                              +-- soft error --> Closing (channel.close sent; frames are
//!                                                 dropped until close-ok) --> (absent)
//! ```
//! Content arrives as a method frame (basic.publish), one header frame, then body frames up to
//! the size the header announced; any other frame in between is 505 UNEXPECTED_FRAME.

use tracing::warn;
use warren_wire::{ChannelClose, ChannelCloseOk, ChannelFlowOk, ChannelOpenOk, Frame, Method};

use crate::error::{AmqpError, AmqpResult};
use crate::model::queue::ConsumerRemoved;
use crate::model::stats::ChurnEvent;
use crate::session::channel::{requeue_unacked, Channel, ChannelConsumer};
use crate::session::connection::Connection;

impl Connection {
    pub(crate) fn channel_frame(&mut self, frame: Frame) -> AmqpResult<()> {
        let id = match &frame {
            Frame::Method { channel, .. }
            | Frame::Header { channel, .. }
            | Frame::Body { channel, .. }
            | Frame::Heartbeat { channel } => *channel,
        };
        let Some(channel) = self.channels.get_mut(&id) else {
            return match frame {
                Frame::Method {
                    method: Method::ChannelOpen(_),
                    ..
                } => self.open_channel(id),
                Frame::Method { method, .. } => {
                    Err(AmqpError::channel_error("expected 'channel.open'").caused_by(&method))
                }
                _ => Err(AmqpError::channel_error("expected 'channel.open'")),
            };
        };
        if channel.closing {
            // We sent channel.close and wait for its close-ok (RabbitMQ's `closing` state). A
            // close from the client that crossed ours is answered and changes nothing: its
            // close-ok for ours still comes (amqp091-go sends both). The channel is not free
            // until then, so an open is a connection error; anything else is dropped.
            let Frame::Method { method, .. } = frame else {
                return Ok(());
            };
            match method {
                Method::ChannelCloseOk(_) => self.forget_channel(id),
                Method::ChannelClose(_) => self.send(id, ChannelCloseOk::default().into()),
                Method::ChannelOpen(_) => {
                    return Err(
                        AmqpError::channel_error("second 'channel.open' seen").caused_by(&method)
                    )
                }
                _ => {}
            }
            return Ok(());
        }
        let result = match frame {
            Frame::Method { method, .. } => {
                if let Some(expected) = channel.awaited_content() {
                    return Err(AmqpError::unexpected_frame(format!(
                        "expected {expected}, got non {expected} frame instead"
                    ))
                    .caused_by(&method));
                }
                let method_for_error = (method.class_id(), method.method_id());
                self.channel_method(id, method).map_err(|mut e| {
                    if e.class_id == 0 {
                        (e.class_id, e.method_id) = method_for_error;
                    }
                    e
                })
            }
            Frame::Header { header, .. } => self.content_header(id, header),
            Frame::Body { payload, .. } => self.content_body(id, payload),
            Frame::Heartbeat { .. } => Err(AmqpError::frame_error(
                "heartbeat frame on a channel other than 0",
            )),
        };
        match result {
            Err(error) if !error.is_hard() => {
                self.close_channel_with(id, error);
                Ok(())
            }
            other => other,
        }
    }

    /// RabbitMQ limits how many channels are open, not their numbers: an id above
    /// `channel_max` is fine while fewer than `channel_max` channels are open.
    fn open_channel(&mut self, id: u16) -> AmqpResult<()> {
        let open = self.channels.len();
        if open >= usize::from(self.channel_max) {
            return Err(AmqpError::not_allowed(format!(
                "number of channels opened ({open}) has reached the negotiated channel_max ({})",
                self.channel_max
            )));
        }
        self.channels.insert(id, Channel::new());
        self.broker.churn().count(ChurnEvent::ChannelCreated, 1);
        self.send(id, ChannelOpenOk::default().into());
        Ok(())
    }

    /// A channel is closed: its state goes.
    fn forget_channel(&mut self, id: u16) {
        if self.channels.remove(&id).is_some() {
            self.broker.churn().count(ChurnEvent::ChannelClosed, 1);
        }
    }

    /// A consumer of `channel` was cancelled from outside: a client that was not told with
    /// `basic.cancel` has the channel closed (404) rather than wait for deliveries forever.
    pub(crate) fn consumer_cancelled_from_outside(&mut self, channel: u16, reason: String) {
        let open = self.channels.get(&channel).is_some_and(|c| !c.closing);
        if open && !self.capabilities.consumer_cancel_notify {
            self.close_channel_with(channel, AmqpError::not_found(reason));
        }
    }

    /// A soft error: the channel is closed by the broker, the connection goes on.
    fn close_channel_with(&mut self, id: u16, error: AmqpError) {
        warn!(
            connection = self.id,
            channel = id,
            code = error.code,
            "closing channel: {}",
            error.reply_text()
        );
        // The publishes confirmed before the error are acked before the channel closes.
        self.send_pending_acks(id);
        self.release_channel(id);
        if let Some(channel) = self.channels.get_mut(&id) {
            channel.closing = true;
            channel.drop_content();
        }
        let close = ChannelClose {
            reply_code: error.code,
            reply_text: error.reply_text(),
            class_id: error.class_id,
            method_id: error.method_id,
        };
        self.send(id, close.into());
    }

    fn channel_method(&mut self, id: u16, method: Method) -> AmqpResult<()> {
        tracing::trace!(connection = self.id, channel = id, "{method:?}");
        match method {
            Method::ChannelOpen(_) => Err(AmqpError::channel_error("second 'channel.open' seen")),
            Method::ChannelClose(_) => {
                self.send_pending_acks(id);
                self.release_channel(id);
                self.forget_channel(id);
                self.send(id, ChannelCloseOk::default().into());
                Ok(())
            }
            Method::ChannelCloseOk(_) => Ok(()),
            Method::ChannelFlow(flow) => {
                if !flow.active {
                    // RabbitMQ 3.x does not let a client stop the broker's deliveries this way.
                    return Err(AmqpError::not_implemented("active=false"));
                }
                self.send(id, ChannelFlowOk { active: true }.into());
                Ok(())
            }
            Method::ChannelFlowOk(_) => Ok(()),
            Method::ExchangeDeclare(m) => self.exchange_declare(id, m),
            Method::ExchangeDelete(m) => self.exchange_delete(id, m),
            Method::ExchangeBind(m) => self.exchange_bind(id, m),
            Method::ExchangeUnbind(m) => self.exchange_unbind(id, m),
            Method::QueueDeclare(m) => self.queue_declare(id, m),
            Method::QueueBind(m) => self.queue_bind(id, m),
            Method::QueueUnbind(m) => self.queue_unbind(id, m),
            Method::QueuePurge(m) => self.queue_purge(id, m),
            Method::QueueDelete(m) => self.queue_delete(id, m),
            Method::BasicQos(m) => self.basic_qos(id, m),
            Method::BasicConsume(m) => self.basic_consume(id, m),
            Method::BasicCancel(m) => self.basic_cancel(id, m),
            Method::BasicPublish(m) => self.basic_publish(id, m),
            Method::BasicGet(m) => self.basic_get(id, m),
            Method::BasicAck(m) => self.basic_ack(id, m.delivery_tag, m.multiple),
            Method::BasicNack(m) => self.basic_nack(id, m.delivery_tag, m.multiple, m.requeue),
            Method::BasicReject(m) => self.basic_nack(id, m.delivery_tag, false, m.requeue),
            Method::BasicRecover(m) => {
                self.basic_recover(id, m.requeue)?;
                self.send(id, warren_wire::BasicRecoverOk::default().into());
                Ok(())
            }
            Method::BasicRecoverAsync(m) => self.basic_recover(id, m.requeue),
            Method::ConfirmSelect(m) => self.confirm_select(id, m.no_wait),
            Method::TxSelect(_) => self.tx_select(id),
            Method::TxCommit(_) => self.tx_commit(id),
            Method::TxRollback(_) => self.tx_rollback(id),
            // RabbitMQ's words, without the method's name.
            _ => Err(AmqpError::command_invalid("unimplemented method")),
        }
    }

    /// Detaches everything the channel holds: consumers leave their queues (which may delete
    /// an auto-delete queue), unacked deliveries go back to their queues as redelivered.
    pub(crate) fn release_channel(&mut self, id: u16) {
        let Some(channel) = self.channels.get_mut(&id) else {
            return;
        };
        let consumers: Vec<ChannelConsumer> = channel.consumers.drain().map(|(_, c)| c).collect();
        // Settlements of a transaction never committed did not happen.
        if let Some(tx) = channel.tx.take() {
            for (entries, _) in tx.settlements {
                channel.unacked.extend(entries);
            }
        }
        let unacked = std::mem::take(&mut channel.unacked);
        for entry in consumers {
            self.detach_consumer(&entry);
        }
        requeue_unacked(unacked.into_values());
    }

    /// Takes a consumer off its queue; the last consumer of an auto-delete queue deletes it.
    pub(crate) fn detach_consumer(&mut self, entry: &ChannelConsumer) {
        entry.consumer.cancel();
        if entry.queue.remove_consumer(&entry.consumer) == ConsumerRemoved::LastOfAutoDelete {
            if let Ok(vhost) = self.open_vhost() {
                vhost.remove_queue(&entry.queue);
            }
        }
    }
}
