//! Every method of the table, decoded from generated argument bytes, must re-encode to the
//! same bytes and report its table row's ids, name and content flag.
#![allow(clippy::unwrap_used)]

use bytes::{BufMut, Bytes, BytesMut};

use super::spec_check::MethodSpec;
use super::{Method, SPEC_TABLE};

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, max_len: u64) -> Vec<u8> {
        let len = self.next() % (max_len + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn put_table(out: &mut BytesMut, rng: &mut Rng) {
    let mut body = BytesMut::new();
    for i in 0..rng.next() % 4 {
        let name = format!("k{i}");
        body.put_u8(name.len() as u8);
        body.put_slice(name.as_bytes());
        match rng.next() % 5 {
            0 => body.put_slice(&[b't', (rng.next() % 2) as u8]),
            1 => {
                body.put_u8(b'I');
                body.put_u32(rng.next() as u32);
            }
            2 => {
                let s = rng.bytes(10);
                body.put_u8(b'S');
                body.put_u32(s.len() as u32);
                body.put_slice(&s);
            }
            3 => {
                body.put_u8(b'l');
                body.put_u64(rng.next());
            }
            _ => body.put_slice(&[b'F', 0, 0, 0, 0]),
        }
    }
    out.put_u32(body.len() as u32);
    out.put_slice(&body);
}

/// A canonical method payload for `spec`: bits packed low bit first, unused bits zero.
fn payload(spec: &MethodSpec, rng: &mut Rng) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u16(spec.class_id);
    out.put_u16(spec.method_id);
    let mut bits: Option<(u8, u8)> = None;
    for (name, ty) in spec.fields {
        let reserved = name.starts_with("reserved");
        if *ty == "bit" {
            let (mut octet, mut count) = bits.take().unwrap_or((0, 0));
            if count == 8 {
                out.put_u8(octet);
                (octet, count) = (0, 0);
            }
            let bit = !reserved && rng.next() % 2 == 1;
            bits = Some((octet | (u8::from(bit) << count), count + 1));
            continue;
        }
        if let Some((octet, _)) = bits.take() {
            out.put_u8(octet);
        }
        let value = if reserved { 0 } else { rng.next() };
        match *ty {
            "octet" => out.put_u8(value as u8),
            "short" => out.put_u16(value as u16),
            "long" => out.put_u32(value as u32),
            "longlong" | "timestamp" => out.put_u64(value),
            "shortstr" => {
                let s = if reserved { Vec::new() } else { rng.bytes(20) };
                out.put_u8(s.len() as u8);
                out.put_slice(&s);
            }
            "longstr" => {
                let s = if reserved { Vec::new() } else { rng.bytes(40) };
                out.put_u32(s.len() as u32);
                out.put_slice(&s);
            }
            "table" => put_table(&mut out, rng),
            other => panic!("unknown type {other}"),
        }
    }
    if let Some((octet, _)) = bits {
        out.put_u8(octet);
    }
    out.freeze()
}

#[test]
fn every_method_round_trips() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for spec in SPEC_TABLE {
        for _ in 0..50 {
            let bytes = payload(spec, &mut rng);
            let method = Method::decode(&bytes).unwrap();
            assert_eq!(method.class_id(), spec.class_id);
            assert_eq!(method.method_id(), spec.method_id);
            assert_eq!(method.name(), format!("{}.{}", spec.class, spec.method));
            assert_eq!(method.has_content(), spec.content);
            let mut out = BytesMut::new();
            method.encode(&mut out);
            assert_eq!(out, bytes, "{}", method.name());
            assert_eq!(Method::decode(&out.freeze()).unwrap(), method);
        }
    }
}

#[test]
fn truncated_arguments_are_frame_errors_of_the_method() {
    let mut rng = Rng(7);
    for spec in SPEC_TABLE.iter().filter(|s| !s.fields.is_empty()) {
        let bytes = payload(spec, &mut rng);
        for cut in 4..bytes.len() {
            let err = Method::decode(&bytes.slice(..cut)).unwrap_err();
            assert_eq!(err.reply_code, crate::reply_code::FRAME_ERROR);
            assert_eq!(
                (err.class_id, err.method_id),
                (spec.class_id, spec.method_id)
            );
            assert!(err.text.starts_with("cannot decode <<"), "{}", err.text);
            assert!(!err.abrupt);
        }
    }
}
