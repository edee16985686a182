//! The structural read of a record against serde_json's: any text goes
//! through `quick_head::read`, `quick_head::read_with_tokens` (from the
//! splitter's tokens, escapes allowed), `quick_head::read_with_identity`
//! (the same, `userIdentity` built too) and `quick_head::lite`, which may give up but
//! may never accept what serde_json rejects, nor read a record or a value
//! otherwise than serde_json does (the head fields, every top-level key and
//! value text, every value built for the rules).

#![no_main]

use libfuzzer_sys::fuzz_target;
use trailwatch::json_bits::{record_tokens, RecordTokens, BLOCK};
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
    // As the splitter finds a record at the start of its buffer.
    let mut buf = data.to_vec();
    buf.extend([b' '; BLOCK]);
    let mut masks = Vec::new();
    if let Some((len, escapes)) = record_tokens(&buf, &mut masks) {
        let record = text.get(..len).expect("the record ends inside the text");
        let tokens = RecordTokens {
            masks: &masks,
            escapes,
        };
        if let Some(quick) = quick_head::read_with_tokens(record, tokens, Vec::new()) {
            match RecordHead::read_by_serde(record) {
                Ok(serde) => assert_eq!(quick, serde, "{record:?}"),
                Err(err) => {
                    panic!("the read from tokens accepted what serde_json rejects ({err}): {record:?}")
                }
            }
        }
        // Building `userIdentity` on the way changes nothing else, and
        // builds what serde_json reads from the field's text.
        if let Some(mut built) = quick_head::read_with_identity(record, tokens, Vec::new()) {
            let identity = built.identity.take();
            let plain = quick_head::read_with_tokens(record, tokens, Vec::new())
                .expect("the read without the identity takes what the read with it takes");
            assert_eq!(built, plain, "{record:?}");
            if let Some(identity) = identity {
                let (_, raw) = built
                    .fields
                    .iter()
                    .find(|(key, _)| key == "userIdentity")
                    .expect("an identity built from a field");
                match Lite::parse_by_serde(raw) {
                    Ok(serde) => assert_eq!(identity, serde, "{record:?}"),
                    Err(err) => {
                        panic!("built an identity serde_json rejects ({err}): {record:?}")
                    }
                }
            }
        }
    }
    if let Some(quick) = quick_head::lite(text) {
        match Lite::parse_by_serde(text) {
            Ok(serde) => assert_eq!(quick, serde, "{text:?}"),
            Err(err) => panic!("the quick value accepted what serde_json rejects ({err}): {text:?}"),
        }
    }
});
