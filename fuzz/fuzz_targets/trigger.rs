//! The Lambda event decoder: any bytes that are JSON go through
//! `trigger::parse`, which must return a trigger or an error, never panic.
//! The same bytes, when UTF-8, are also an S3 object key to decode.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(key) = trailwatch::trigger::decode_key(text) {
            // Decoding never lengthens a key: `+` becomes one space and
            // `%XX` one byte.
            assert!(key.len() <= text.len(), "{text:?} decoded to {key:?}");
        }
    }
    if let Ok(event) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = trailwatch::trigger::parse(&event);
    }
});
