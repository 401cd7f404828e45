//! Frames: a `octet` type, a `short` channel, a `long` payload size, the payload and the
//! frame-end octet `0xCE`. Types are 1 method, 2 content header, 3 content body, 8 heartbeat.
//! A connection starts with the 8-octet [`PROTOCOL_HEADER`] instead of a frame.
//!
//! Framing faults are reported as RabbitMQ 3.10's `rabbit_reader` reports them: 501
//! `FRAME_ERROR`, text `type T, all octets = <<...>>: REASON` (`first 16 octets` for a longer
//! payload); faults inside a payload come from [`Method::decode`] and [`ContentHeader::decode`].

use bytes::{Buf, BufMut, Bytes, BytesMut};
use nom::number::streaming::{be_u16, be_u32, be_u8};
use nom::sequence::tuple;
use nom::IResult;

use crate::codec::put_counted;
pub use crate::error::FrameDecodeError;
use crate::error::{frame_error, unknown_frame, ErlangTerm};
use crate::{ContentHeader, ContentMethod, HeaderPayload, Method};

/// What a client sends first: `AMQP`, 0, then protocol version 0-9-1.
pub const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";
/// The AMQP 0-9 header (class 1, instance 1, version 0-9), which aioamqp sends and RabbitMQ
/// serves as 0-9-1 (`rabbit_reader:handshake({1, 1, 0, 9}, ...)`).
pub const PROTOCOL_HEADER_0_9: &[u8; 8] = b"AMQP\x01\x01\x00\x09";
/// The spec's `frame-min-size`: the smallest `frame-max` a peer may propose.
pub const FRAME_MIN_SIZE: u32 = 4096;
/// The octets of a frame around its payload: the 7-octet header and the frame-end octet.
pub const FRAME_OVERHEAD: usize = 8;

pub(crate) const FRAME_METHOD: u8 = 1;
pub(crate) const FRAME_HEADER: u8 = 2;
const FRAME_BODY: u8 = 3;
const FRAME_HEARTBEAT: u8 = 8;
const FRAME_END: u8 = 0xCE;
const HEADER_LEN: usize = 7;

/// One frame, decoded.
// `Header` holds its properties inline (~400 bytes against ~130 for a method): a frame is
// matched and taken apart at once, so a box would cost an allocation per message for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Method {
        channel: u16,
        method: Method,
    },
    Header {
        channel: u16,
        header: ContentHeader,
    },
    /// A part of a message body: a zero-copy view of the received buffer.
    Body {
        channel: u16,
        payload: Bytes,
    },
    /// Decoded with whatever channel came; the caller decides that a non-zero one is an error.
    Heartbeat {
        channel: u16,
    },
}

impl Frame {
    pub fn channel(&self) -> u16 {
        match *self {
            Frame::Method { channel, .. }
            | Frame::Header { channel, .. }
            | Frame::Body { channel, .. }
            | Frame::Heartbeat { channel } => channel,
        }
    }

    /// Appends the whole frame.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Frame::Method { channel, method } => encode_method_frame(*channel, method, out),
            Frame::Header { channel, header } => {
                put_frame(out, FRAME_HEADER, *channel, |out| header.encode(out));
            }
            Frame::Body { channel, payload } => {
                put_frame(out, FRAME_BODY, *channel, |out| out.put_slice(payload));
            }
            Frame::Heartbeat { channel } => put_frame(out, FRAME_HEARTBEAT, *channel, |_| ()),
        }
    }
}

fn put_frame(out: &mut BytesMut, kind: u8, channel: u16, payload: impl FnOnce(&mut BytesMut)) {
    out.put_u8(kind);
    out.put_u16(channel);
    put_counted(out, payload);
    out.put_u8(FRAME_END);
}

/// Appends a method frame.
pub fn encode_method_frame(channel: u16, method: &Method, out: &mut BytesMut) {
    put_frame(out, FRAME_METHOD, channel, |out| method.encode(out));
}

/// Appends a content header frame and the body frames, split so that no frame exceeds
/// `frame_max` (0: no limit); an empty body produces no body frame. `header.body_size` must be
/// `body.len()`.
pub fn encode_content(
    channel: u16,
    header: &impl HeaderPayload,
    body: &[u8],
    frame_max: u32,
    out: &mut BytesMut,
) {
    debug_assert_eq!(
        header.body_size(),
        body.len() as u64,
        "body_size of the header"
    );
    put_frame(out, FRAME_HEADER, channel, |out| header.encode(out));
    let max_payload = match frame_max {
        0 => usize::MAX,
        max => (max as usize).saturating_sub(FRAME_OVERHEAD).max(1),
    };
    for chunk in body.chunks(max_payload) {
        put_frame(out, FRAME_BODY, channel, |out| out.put_slice(chunk));
    }
}

/// Appends the method frame, then, as [`encode_content`], the header and body frames: the path
/// of `basic.deliver`, `basic.get-ok` and `basic.return`.
pub fn encode_method_with_content(
    channel: u16,
    method: &Method,
    header: &impl HeaderPayload,
    body: &[u8],
    frame_max: u32,
    out: &mut BytesMut,
) {
    encode_method_frame(channel, method, out);
    encode_content(channel, header, body, frame_max, out);
}

/// Appends a message as it goes to a client: the method frame of `method`, then, as
/// [`encode_content`], the header and body frames.
pub fn encode_message(
    channel: u16,
    method: &ContentMethod<'_>,
    header: &impl HeaderPayload,
    body: &[u8],
    frame_max: u32,
    out: &mut BytesMut,
) {
    put_frame(out, FRAME_METHOD, channel, |out| method.encode(out));
    encode_content(channel, header, body, frame_max, out);
}

fn frame_header(input: &[u8]) -> IResult<&[u8], (u8, u16, u32)> {
    tuple((be_u8, be_u16, be_u32))(input)
}

/// Cuts one whole frame off the front of `buf`. `Ok(None)`: not a whole frame yet (nothing is
/// consumed). A declared payload size above `frame_max` (0: no limit) is an error as soon as the
/// frame header is in, before waiting for the payload. Like RabbitMQ, this compares the payload
/// alone with `frame_max`: RabbitMQ allows `frame_max - 8` plus a "fudge" of 8 octets because
/// clients commonly get the overhead wrong.
///
/// The checks follow `rabbit_reader`'s order: size, frame-end octet, then the payload by type.
/// On an error the connection is to be closed; what `buf` still holds is then meaningless.
///
/// RabbitMQ enforces 4096 (its `initial_frame_max`) until `connection.tune-ok`, then the
/// negotiated value. With 0 a peer can make the caller buffer up to 4 GiB for one frame.
pub fn decode_frame(buf: &mut BytesMut, frame_max: u32) -> Result<Option<Frame>, FrameDecodeError> {
    let Ok((_, (kind, channel, size))) = frame_header(buf) else {
        return Ok(None);
    };
    let on_channel = |e| FrameDecodeError::on_channel(e, channel);
    if frame_max != 0 && size > frame_max {
        let limit = frame_max.saturating_sub(FRAME_OVERHEAD as u32);
        let reason = ErlangTerm::Tuple("frame_too_large", &[size, limit]);
        return Err(on_channel(frame_error(kind, &[], reason)));
    }
    let total = (size as usize).saturating_add(FRAME_OVERHEAD);
    if buf.len() < total {
        return Ok(None);
    }
    let frame = buf.split_to(total).freeze();
    let payload = frame.slice(HEADER_LEN..total - 1);
    match frame.last() {
        Some(&FRAME_END) => {}
        end => {
            let end = u32::from(end.copied().unwrap_or_default());
            let reason = ErlangTerm::Tuple("invalid_frame_end_marker", &[end]);
            return Err(on_channel(frame_error(kind, &payload, reason)));
        }
    }
    Ok(Some(match kind {
        FRAME_METHOD => Frame::Method {
            channel,
            method: Method::decode(&payload).map_err(on_channel)?,
        },
        FRAME_HEADER => Frame::Header {
            channel,
            header: ContentHeader::decode(&payload).map_err(on_channel)?,
        },
        FRAME_BODY => Frame::Body { channel, payload },
        FRAME_HEARTBEAT if payload.is_empty() => Frame::Heartbeat { channel },
        _ => return Err(on_channel(unknown_frame(kind, &payload))),
    }))
}

/// A body frame whose payload is read into an allocation of its own, of the payload's size,
/// rather than into the read buffer: a body larger than what is left of the buffer would
/// otherwise be copied into a new one, which grows by doubling (a 64 KiB body took 128 KiB)
/// and, as the rest of the buffer fills with the frames after it, is kept whole by whatever
/// keeps the body. See [`LargeBody::take`].
#[derive(Debug)]
pub struct LargeBody {
    channel: u16,
    /// Of the payload's size: its spare capacity is what is still to be read.
    payload: BytesMut,
}

impl LargeBody {
    /// Takes the body frame at the front of `buf` if it is not whole yet and its payload is at
    /// least `min` bytes: its header, and what `buf` has of its payload, copied (`buf` is then
    /// empty, and what it held is room again). To be called when [`decode_frame`] has found no
    /// whole frame (it refuses a frame over `frame_max` from its header).
    pub fn take(buf: &mut BytesMut, min: usize) -> Option<LargeBody> {
        let (_, (kind, channel, size)) = frame_header(buf).ok()?;
        let size = size as usize;
        let whole = size.saturating_add(FRAME_OVERHEAD);
        if kind != FRAME_BODY || size < min || buf.len() >= whole {
            return None;
        }
        let mut payload = BytesMut::with_capacity(size);
        payload.extend_from_slice(&buf[HEADER_LEN..]);
        // Not advanced past: what follows the frame is read where it was.
        buf.clear();
        Some(LargeBody { channel, payload })
    }

    /// Where the rest of the payload is to be read: its spare capacity is exactly what is
    /// missing (so a read into it never grows it), none once it is complete.
    pub fn payload_mut(&mut self) -> &mut BytesMut {
        &mut self.payload
    }

    pub fn is_complete(&self) -> bool {
        self.payload.len() == self.payload.capacity()
    }

    /// Once the payload is complete, the frame, checked against the frame-end octet at the
    /// front of `buf` as [`decode_frame`] checks it: `Ok(Err(self))` while `buf` is empty.
    pub fn finish(self, buf: &mut BytesMut) -> Result<Result<Frame, LargeBody>, FrameDecodeError> {
        debug_assert!(self.is_complete());
        let Some(&end) = buf.first() else {
            return Ok(Err(self));
        };
        if end != FRAME_END {
            let reason = ErlangTerm::Tuple("invalid_frame_end_marker", &[u32::from(end)]);
            let error = frame_error(FRAME_BODY, &self.payload, reason);
            return Err(FrameDecodeError::on_channel(error, self.channel));
        }
        buf.advance(1);
        Ok(Ok(Frame::Body {
            channel: self.channel,
            payload: self.payload.freeze(),
        }))
    }
}
