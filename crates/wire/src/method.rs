//! Methods: a method frame's payload is the `short` class id, the `short` method id, then the
//! method's arguments in the order of the spec's `<field>` list (see `codec` for the types).
//!
//! Every method is one line of the table at the bottom of this file, transcribed from the
//! vendored `spec/amqp0-9-1.stripped.extended.xml` plus RabbitMQ's four connection-class
//! extensions that the XML lacks (`blocked`, `unblocked`, `update-secret`, `update-secret-ok`).
//! The test `spec_table_matches_xml` fails when the table and the XML disagree. One struct per
//! method is generated from the table, always with braces (`ChannelOpen {}` even when it has no
//! field), deriving `Default`; the spec's `reserved-1`/`reserved-2` fields are not in the
//! structs: they are written as zero/empty and skipped when read. Field names are the XML's
//! with `-` turned into `_`, except `exchange.declare`'s `type`, a Rust keyword, which is
//! `kind` (as in `BasicProperties`), and `confirm.select`'s `nowait`, which is `no_wait` as in
//! every other class.

use bytes::{Bytes, BytesMut};

use crate::codec::{field_type, Reader, Result, Writer};
use crate::error::{unknown_frame, DecodeError, MethodDecodeError};
use crate::frame::FRAME_METHOD;
use crate::reply_code::NOT_IMPLEMENTED;

impl Method {
    /// Decodes a method frame payload. Strings are views into `payload`.
    pub fn decode(payload: &Bytes) -> std::result::Result<Method, MethodDecodeError> {
        let mut r = Reader::new(payload);
        let (Ok(class_id), Ok(method_id)) = (r.short(), r.short()) else {
            return Err(unknown_frame(FRAME_METHOD, payload));
        };
        Method::decode_args(class_id, method_id, &mut r)
            .map_err(|e| e.in_method(class_id, method_id))?
            .ok_or_else(|| unknown_method(class_id, method_id))
    }

    /// Appends the method payload: class id, method id and arguments.
    pub fn encode(&self, out: &mut BytesMut) {
        let mut w = Writer::new(out);
        w.short(&self.class_id());
        w.short(&self.method_id());
        self.encode_args(&mut w);
    }
}

/// A method that carries a message to a client (`basic.deliver`, `basic.get-ok`,
/// `basic.return`), its strings borrowed from wherever the broker keeps them: the exchange and
/// routing key are bytes inside a kept message, not [`crate::ShortStr`]s of their own. Encodes
/// as the table's structs do (`content_methods_encode_as_the_table` tests it). Each string is
/// at most 255 bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ContentMethod<'a> {
    Deliver {
        consumer_tag: &'a [u8],
        delivery_tag: u64,
        redelivered: bool,
        exchange: &'a [u8],
        routing_key: &'a [u8],
    },
    GetOk {
        delivery_tag: u64,
        redelivered: bool,
        exchange: &'a [u8],
        routing_key: &'a [u8],
        message_count: u32,
    },
    Return {
        reply_code: u16,
        reply_text: &'a [u8],
        exchange: &'a [u8],
        routing_key: &'a [u8],
    },
}

impl ContentMethod<'_> {
    /// Appends the method payload, as [`Method::encode`] does.
    pub fn encode(&self, out: &mut BytesMut) {
        const BASIC: u16 = 60;
        let mut w = Writer::new(out);
        match *self {
            ContentMethod::Deliver {
                consumer_tag,
                delivery_tag,
                redelivered,
                exchange,
                routing_key,
            } => {
                w.short(&BASIC);
                w.short(&60);
                w.shortstr_bytes(consumer_tag);
                w.longlong(&delivery_tag);
                w.bit(&redelivered);
                w.shortstr_bytes(exchange);
                w.shortstr_bytes(routing_key);
            }
            ContentMethod::GetOk {
                delivery_tag,
                redelivered,
                exchange,
                routing_key,
                message_count,
            } => {
                w.short(&BASIC);
                w.short(&71);
                w.longlong(&delivery_tag);
                w.bit(&redelivered);
                w.shortstr_bytes(exchange);
                w.shortstr_bytes(routing_key);
                w.long(&message_count);
            }
            ContentMethod::Return {
                reply_code,
                reply_text,
                exchange,
                routing_key,
            } => {
                w.short(&BASIC);
                w.short(&50);
                w.short(&reply_code);
                w.shortstr_bytes(reply_text);
                w.shortstr_bytes(exchange);
                w.shortstr_bytes(routing_key);
            }
        }
        w.finish();
    }
}

/// RabbitMQ's `lookup_method_name/1` exits on an id it does not know, outside any handler:
/// the connection process crashes and the socket is closed without `connection.close`.
fn unknown_method(class_id: u16, method_id: u16) -> DecodeError {
    DecodeError::new(
        NOT_IMPLEMENTED,
        format!("unknown method {{{class_id},{method_id}}}"),
    )
    .in_method(class_id, method_id)
    .abruptly()
}

/// The pattern that a decoded field is bound to: reserved fields are dropped.
#[rustfmt::skip]
macro_rules! field_binding {
    (reserved_1) => { _ };
    (reserved_2) => { _ };
    ($field:ident) => { $field };
}

/// The value that a field is encoded from: reserved fields are zero or empty.
#[rustfmt::skip]
macro_rules! field_ref {
    (reserved_1) => { &Default::default() };
    (reserved_2) => { &Default::default() };
    ($field:ident) => { $field };
}

#[rustfmt::skip]
macro_rules! has_content {
    () => { false };
    (content) => { true };
}

/// One method's struct and argument codec, from `[Struct "class" "method"] [fields]`. The
/// fields are first sorted into all of them (`$all`, for the wire) and the ones that are not
/// reserved (`[kept]`, for the struct).
macro_rules! method_struct {
    ($head:tt [$($all:tt)*]) => {
        method_struct!(@sort $head [$($all)*] [] $($all)*);
    };
    (@sort $head:tt $all:tt [$($kept:tt)*] reserved_1: $ty:ident, $($rest:tt)*) => {
        method_struct!(@sort $head $all [$($kept)*] $($rest)*);
    };
    (@sort $head:tt $all:tt [$($kept:tt)*] reserved_2: $ty:ident, $($rest:tt)*) => {
        method_struct!(@sort $head $all [$($kept)*] $($rest)*);
    };
    (@sort $head:tt $all:tt [$($kept:tt)*] $field:ident: $ty:ident, $($rest:tt)*) => {
        method_struct!(@sort $head $all [$($kept)* $field: $ty,] $($rest)*);
    };
    (
        @sort [$Struct:ident $class:literal $method:literal]
        [$($field:ident: $ty:ident,)*] [$($kept:ident: $kty:ident,)*]
    ) => {
        #[doc = concat!("The `", $class, ".", $method, "` method.")]
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $Struct {
            $(pub $kept: field_type!($kty),)*
        }

        impl $Struct {
            fn decode_args(r: &mut Reader<'_>) -> Result<Self> {
                $(let field_binding!($field) = r.$ty()?;)*
                r.finish()?;
                Ok($Struct { $($kept),* })
            }

            fn encode_args(&self, w: &mut Writer<'_>) {
                let $Struct { $($kept),* } = self;
                $(w.$ty(field_ref!($field));)*
                w.finish();
            }
        }
    };
}

/// Expands the table: the structs, the `Method` enum and its dispatching methods.
macro_rules! method_table {
    ($(
        $class_id:literal $class:literal {
            $($method_id:literal $method:literal $Struct:ident $($content:ident)? {
                $($field:ident: $ty:ident),* $(,)?
            })*
        }
    )*) => {
        $($(
            method_struct!([$Struct $class $method] [$($field: $ty,)*]);

            impl From<$Struct> for Method {
                fn from(m: $Struct) -> Method {
                    Method::$Struct(m)
                }
            }
        )*)*

        /// Any AMQP 0-9-1 method, as its class's struct.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Method {
            $($($Struct($Struct),)*)*
        }

        impl Method {
            pub fn class_id(&self) -> u16 {
                match self {
                    $($(Method::$Struct(_) => $class_id,)*)*
                }
            }

            pub fn method_id(&self) -> u16 {
                match self {
                    $($(Method::$Struct(_) => $method_id,)*)*
                }
            }

            /// The spec's name, such as `"basic.publish"`.
            pub fn name(&self) -> &'static str {
                match self {
                    $($(Method::$Struct(_) => concat!($class, ".", $method),)*)*
                }
            }

            /// Whether a content header and body frames follow this method.
            pub fn has_content(&self) -> bool {
                match self {
                    $($(Method::$Struct(_) => has_content!($($content)?),)*)*
                }
            }

            fn encode_args(&self, w: &mut Writer<'_>) {
                match self {
                    $($(Method::$Struct(m) => m.encode_args(w),)*)*
                }
            }

            /// `None` for an unknown class or method id.
            fn decode_args(
                class_id: u16,
                method_id: u16,
                r: &mut Reader<'_>,
            ) -> Result<Option<Method>> {
                Ok(Some(match (class_id, method_id) {
                    $($(($class_id, $method_id) => Method::$Struct($Struct::decode_args(r)?),)*)*
                    _ => return Ok(None),
                }))
            }
        }

        /// The table as data, for the test that compares it with the XML.
        #[cfg(test)]
        pub(crate) const SPEC_TABLE: &[spec_check::MethodSpec] = &[
            $($(spec_check::MethodSpec {
                class_id: $class_id,
                class: $class,
                method_id: $method_id,
                method: $method,
                content: has_content!($($content)?),
                fields: &[$((stringify!($field), stringify!($ty))),*],
            },)*)*
        ];
    };
}

method_table! {
    10 "connection" {
        10 "start" ConnectionStart {
            version_major: octet, version_minor: octet, server_properties: table,
            mechanisms: longstr, locales: longstr,
        }
        11 "start-ok" ConnectionStartOk {
            client_properties: table, mechanism: shortstr, response: longstr, locale: shortstr,
        }
        20 "secure" ConnectionSecure { challenge: longstr }
        21 "secure-ok" ConnectionSecureOk { response: longstr }
        30 "tune" ConnectionTune { channel_max: short, frame_max: long, heartbeat: short }
        31 "tune-ok" ConnectionTuneOk { channel_max: short, frame_max: long, heartbeat: short }
        40 "open" ConnectionOpen { virtual_host: shortstr, reserved_1: shortstr, reserved_2: bit }
        41 "open-ok" ConnectionOpenOk { reserved_1: shortstr }
        50 "close" ConnectionClose {
            reply_code: short, reply_text: shortstr, class_id: short, method_id: short,
        }
        51 "close-ok" ConnectionCloseOk {}
        60 "blocked" ConnectionBlocked { reason: shortstr }
        61 "unblocked" ConnectionUnblocked {}
        70 "update-secret" ConnectionUpdateSecret { new_secret: longstr, reason: shortstr }
        71 "update-secret-ok" ConnectionUpdateSecretOk {}
    }
    20 "channel" {
        10 "open" ChannelOpen { reserved_1: shortstr }
        11 "open-ok" ChannelOpenOk { reserved_1: longstr }
        20 "flow" ChannelFlow { active: bit }
        21 "flow-ok" ChannelFlowOk { active: bit }
        40 "close" ChannelClose {
            reply_code: short, reply_text: shortstr, class_id: short, method_id: short,
        }
        41 "close-ok" ChannelCloseOk {}
    }
    40 "exchange" {
        10 "declare" ExchangeDeclare {
            reserved_1: short, exchange: shortstr, kind: shortstr, passive: bit, durable: bit,
            auto_delete: bit, internal: bit, no_wait: bit, arguments: table,
        }
        11 "declare-ok" ExchangeDeclareOk {}
        20 "delete" ExchangeDelete {
            reserved_1: short, exchange: shortstr, if_unused: bit, no_wait: bit,
        }
        21 "delete-ok" ExchangeDeleteOk {}
        30 "bind" ExchangeBind {
            reserved_1: short, destination: shortstr, source: shortstr, routing_key: shortstr,
            no_wait: bit, arguments: table,
        }
        31 "bind-ok" ExchangeBindOk {}
        40 "unbind" ExchangeUnbind {
            reserved_1: short, destination: shortstr, source: shortstr, routing_key: shortstr,
            no_wait: bit, arguments: table,
        }
        51 "unbind-ok" ExchangeUnbindOk {}
    }
    50 "queue" {
        10 "declare" QueueDeclare {
            reserved_1: short, queue: shortstr, passive: bit, durable: bit, exclusive: bit,
            auto_delete: bit, no_wait: bit, arguments: table,
        }
        11 "declare-ok" QueueDeclareOk {
            queue: shortstr, message_count: long, consumer_count: long,
        }
        20 "bind" QueueBind {
            reserved_1: short, queue: shortstr, exchange: shortstr, routing_key: shortstr,
            no_wait: bit, arguments: table,
        }
        21 "bind-ok" QueueBindOk {}
        30 "purge" QueuePurge { reserved_1: short, queue: shortstr, no_wait: bit }
        31 "purge-ok" QueuePurgeOk { message_count: long }
        40 "delete" QueueDelete {
            reserved_1: short, queue: shortstr, if_unused: bit, if_empty: bit, no_wait: bit,
        }
        41 "delete-ok" QueueDeleteOk { message_count: long }
        50 "unbind" QueueUnbind {
            reserved_1: short, queue: shortstr, exchange: shortstr, routing_key: shortstr,
            arguments: table,
        }
        51 "unbind-ok" QueueUnbindOk {}
    }
    60 "basic" {
        10 "qos" BasicQos { prefetch_size: long, prefetch_count: short, global: bit }
        11 "qos-ok" BasicQosOk {}
        20 "consume" BasicConsume {
            reserved_1: short, queue: shortstr, consumer_tag: shortstr, no_local: bit,
            no_ack: bit, exclusive: bit, no_wait: bit, arguments: table,
        }
        21 "consume-ok" BasicConsumeOk { consumer_tag: shortstr }
        30 "cancel" BasicCancel { consumer_tag: shortstr, no_wait: bit }
        31 "cancel-ok" BasicCancelOk { consumer_tag: shortstr }
        40 "publish" BasicPublish content {
            reserved_1: short, exchange: shortstr, routing_key: shortstr, mandatory: bit,
            immediate: bit,
        }
        50 "return" BasicReturn content {
            reply_code: short, reply_text: shortstr, exchange: shortstr, routing_key: shortstr,
        }
        60 "deliver" BasicDeliver content {
            consumer_tag: shortstr, delivery_tag: longlong, redelivered: bit,
            exchange: shortstr, routing_key: shortstr,
        }
        70 "get" BasicGet { reserved_1: short, queue: shortstr, no_ack: bit }
        71 "get-ok" BasicGetOk content {
            delivery_tag: longlong, redelivered: bit, exchange: shortstr, routing_key: shortstr,
            message_count: long,
        }
        72 "get-empty" BasicGetEmpty { reserved_1: shortstr }
        80 "ack" BasicAck { delivery_tag: longlong, multiple: bit }
        90 "reject" BasicReject { delivery_tag: longlong, requeue: bit }
        100 "recover-async" BasicRecoverAsync { requeue: bit }
        110 "recover" BasicRecover { requeue: bit }
        111 "recover-ok" BasicRecoverOk {}
        120 "nack" BasicNack { delivery_tag: longlong, multiple: bit, requeue: bit }
    }
    90 "tx" {
        10 "select" TxSelect {}
        11 "select-ok" TxSelectOk {}
        20 "commit" TxCommit {}
        21 "commit-ok" TxCommitOk {}
        30 "rollback" TxRollback {}
        31 "rollback-ok" TxRollbackOk {}
    }
    85 "confirm" {
        10 "select" ConfirmSelect { no_wait: bit }
        11 "select-ok" ConfirmSelectOk {}
    }
}

#[cfg(test)]
mod spec_check;

#[cfg(test)]
mod tests;
