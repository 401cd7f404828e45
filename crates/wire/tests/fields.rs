//! Field tables: every value type, RabbitMQ's reading of `L`, and hostile lengths.
#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use warren_wire::reply_code::SYNTAX_ERROR;
use warren_wire::{FieldTable, FieldValue, ShortStr};

fn every_type() -> FieldTable {
    let mut nested = FieldTable::new();
    nested.insert("inner", FieldValue::LongStr(Bytes::from_static(b"v")));
    let values = [
        ("t", FieldValue::Bool(true)),
        ("b", FieldValue::I8(-2)),
        ("B", FieldValue::U8(254)),
        ("s", FieldValue::I16(-300)),
        ("u", FieldValue::U16(65000)),
        ("I", FieldValue::I32(-70000)),
        ("i", FieldValue::U32(4_000_000_000)),
        ("l", FieldValue::I64(-5_000_000_000)),
        ("f", FieldValue::F32(1.5)),
        ("d", FieldValue::F64(-2.25)),
        (
            "D",
            FieldValue::Decimal {
                scale: 2,
                value: 12345,
            },
        ),
        (
            "S",
            FieldValue::LongStr(Bytes::from_static(b"long \xff string")),
        ),
        (
            "A",
            FieldValue::Array(vec![
                FieldValue::I32(1),
                FieldValue::Void,
                FieldValue::Array(vec![]),
                FieldValue::Table(nested.clone()),
            ]),
        ),
        ("T", FieldValue::Timestamp(1_700_000_000)),
        ("F", FieldValue::Table(nested)),
        ("V", FieldValue::Void),
        ("x", FieldValue::Bytes(Bytes::from_static(&[0, 1, 2]))),
    ];
    let mut table = FieldTable::new();
    for (k, v) in values {
        table.insert(k, v);
    }
    table
}

fn encoded(table: &FieldTable) -> Bytes {
    let mut out = BytesMut::new();
    table.encode(&mut out);
    out.freeze()
}

#[test]
fn every_value_type_round_trips_in_wire_order() {
    let table = every_type();
    let bytes = encoded(&table);
    let decoded = FieldTable::decode(&bytes).unwrap();
    assert_eq!(decoded, table);
    let letters: Vec<u8> = decoded.iter().map(|(k, _)| k.as_bytes()[0]).collect();
    assert_eq!(letters, b"tbBsuIilfdDSATFVx");
    assert_eq!(encoded(&decoded), bytes);
}

#[test]
fn each_letter_is_written_as_rabbitmq_writes_it() {
    let bytes = encoded(&every_type());
    // After each one-letter name comes the type letter, which is the name in this table.
    let mut rest = &bytes[4..];
    for (name, _) in every_type().iter() {
        assert_eq!(rest[0], 1);
        assert_eq!(rest[1], name.as_bytes()[0]);
        assert_eq!(rest[2], name.as_bytes()[0], "letter of {name}");
        let one = {
            let mut t = FieldTable::new();
            t.insert(
                name.clone(),
                every_type().get(name.as_bytes()).unwrap().clone(),
            );
            encoded(&t)
        };
        rest = &rest[one.len() - 4..];
    }
    assert!(rest.is_empty());
}

#[test]
fn golden_bytes() {
    let mut table = FieldTable::new();
    table.insert("a", FieldValue::I32(1));
    table.insert("x-max-length", FieldValue::I64(10));
    let expected =
        b"\x00\x00\x00\x1d\x01aI\x00\x00\x00\x01\x0cx-max-lengthl\x00\x00\x00\x00\x00\x00\x00\x0a";
    assert_eq!(&encoded(&table)[..], &expected[..]);
}

#[test]
fn capital_l_reads_as_signed_64_bits_and_is_written_back_as_l() {
    let bytes = Bytes::from_static(b"\x00\x00\x00\x0b\x01nL\xff\xff\xff\xff\xff\xff\xff\xfe");
    let table = FieldTable::decode(&bytes).unwrap();
    assert_eq!(table.get(b"n"), Some(&FieldValue::I64(-2)));
    assert_eq!(encoded(&table)[6], b'l');
}

#[test]
fn strings_are_views_of_the_input() {
    let bytes = encoded(&every_type());
    let table = FieldTable::decode(&bytes).unwrap();
    let FieldValue::LongStr(s) = table.get(b"S").unwrap() else {
        panic!("no S");
    };
    let range = bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len();
    assert!(range.contains(&(s.as_ptr() as usize)));
    let key: &ShortStr = table.iter().next().unwrap().0;
    assert!(range.contains(&(key.as_bytes().as_ptr() as usize)));
}

#[test]
fn unknown_type_letter() {
    let bytes = Bytes::from_static(b"\x00\x00\x00\x03\x01kZ");
    let err = FieldTable::decode(&bytes).unwrap_err();
    assert_eq!(err.reply_code, SYNTAX_ERROR);
    assert!(err.abrupt);
}

#[test]
fn declared_lengths_beyond_the_input_fail_without_allocating_them() {
    for bytes in [
        &b"\xff\xff\xff\xff"[..],
        b"\x00\x00\x00\x06\x01kS\xff\xff\xff",
        b"\x00\x00\x00\x07\x01kA\xff\xff\xff\xff",
        b"\x00\x00\x00\x07\x01kF\x7f\xff\xff\xff",
        b"\x00\x00\x00\x02\xffk",
    ] {
        let err = FieldTable::decode(&Bytes::copy_from_slice(bytes)).unwrap_err();
        assert_eq!(err.reply_code, SYNTAX_ERROR, "{bytes:?}");
    }
}

#[test]
fn insert_replaces_in_place() {
    let mut table = every_type();
    table.insert("t", FieldValue::Bool(false));
    assert_eq!(table.iter().next().unwrap().1, &FieldValue::Bool(false));
    assert_eq!(table.len(), 17);
}
