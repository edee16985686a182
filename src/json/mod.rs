//! JSON, knowing nothing of CloudTrail: where the strings and structural
//! characters of a text are, 64 bytes at a time ([`classify`]); a walk over
//! a text by those characters alone (`walk`); the value the rules read,
//! borrowed from the text ([`BorrowedValue`]); and the checks serde_json
//! leaves out ([`check`]: no duplicate key, bounded nesting).

pub mod classify;
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
