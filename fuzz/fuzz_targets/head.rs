//! The structural read of a record against serde_json's: any text goes
//! through `quick_head::read` and `quick_head::lite`, which may give up but
//! may never accept what serde_json rejects, nor read a record or a value
//! otherwise than serde_json does (the head fields, every top-level key and
//! value text, every value built for the rules).

#![no_main]

use libfuzzer_sys::fuzz_target;
use trailwatch::quick_head;
use trailwatch::record::RecordHead;
use trailwatch::rules::Lite;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(quick) = quick_head::read(text) {
        match RecordHead::read_by_serde(text) {
            Ok(serde) => assert_eq!(quick, serde, "{text:?}"),
            Err(err) => panic!("the quick read accepted what serde_json rejects ({err}): {text:?}"),
        }
    }
    if let Some(quick) = quick_head::lite(text) {
        match Lite::parse_by_serde(text) {
            Ok(serde) => assert_eq!(quick, serde, "{text:?}"),
            Err(err) => panic!("the quick value accepted what serde_json rejects ({err}): {text:?}"),
        }
    }
});
