//! JSON, knowing nothing of CloudTrail: where the strings and structural
//! characters of a text are, 64 bytes at a time ([`classify`]); a walk over
//! a text by those characters alone (`walk`), which can note where the
//! members at a few dotted paths are as it goes ([`find`]); the value the rules read,
//! borrowed from the text ([`BorrowedValue`]); and the checks serde_json
//! leaves out ([`check`]: no duplicate key, bounded nesting).

pub mod classify;
pub mod find;
pub(crate) mod strict;
mod value;
pub(crate) mod walk;
mod write;

pub use classify::Tokens;
pub use strict::{check, without_position};
pub use value::BorrowedValue;
pub use write::write_str;

/// Values nested deeper than this (the outermost is level 1) are rejected.
/// CloudTrail records nest a dozen levels at most; the limit stays below
/// serde_json's own (128) so the message is ours, and bounds the recursion
/// of everything that later walks a value. The fast readers give up before
/// it, for serde_json to decide.
pub const MAX_DEPTH: usize = 100;

/// Whether two object keys are the same: what `a == b` says, compared a
/// word at a time inline (keys are short, and a record's fields are looked
/// up by key many times; `==` called `memcmp` for every key of the same
/// length).
#[inline]
pub fn same_key(a: &str, b: &str) -> bool {
    same_key_bytes(a.as_bytes(), b.as_bytes())
}

/// [`same_key`] of keys as bytes.
#[inline]
pub(crate) fn same_key_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match (a.first_chunk::<8>(), b.first_chunk::<8>()) {
        (Some(a8), Some(b8)) if a.len() <= 16 => {
            // The first eight bytes and the last eight (overlapping).
            let (a_last, b_last) = (a.last_chunk::<8>(), b.last_chunk::<8>());
            a8 == b8 && a_last == b_last
        }
        _ => a == b,
    }
}

/// A 64-bit hash of an object key: its length and its first and last
/// eight bytes (or all of them), mixed. Equal hashes are compared byte by
/// byte; different ones tell keys apart without a comparison.
pub(crate) const fn key_hash(key: &[u8]) -> u64 {
    const fn word(bytes: &[u8], at: usize) -> u64 {
        let mut word = 0u64;
        let mut i = 0;
        while i < 8 && at + i < bytes.len() {
            word |= (bytes[at + i] as u64) << (8 * i);
            i += 1;
        }
        word
    }
    let len = key.len();
    let (first, last) = if len > 8 {
        (word(key, 0), word(key, len - 8))
    } else {
        (word(key, 0), 0)
    };
    let mixed = (first ^ last.rotate_left(29) ^ (len as u64).rotate_left(58))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    mixed ^ (mixed >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_as_strings_do() {
        let keys = [
            "",
            "a",
            "b",
            "arn",
            "type",
            "eventName",
            "eventTime",
            "eventNamf",
            "fventName",
            "userIdentity",
            "userIdentitz",
            "sessionContext",
            "sessionContexts",
            "recipientAccountId",
            "recipientAccountIe",
            "é",
            "ü",
            "abcdefgh",
            "abcdefgi",
            "abcdefghijklmnop",
            "abcdefghijklmnoq",
            "bbcdefghijklmnop",
        ];
        for a in keys {
            for b in keys {
                assert_eq!(same_key(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }
}
