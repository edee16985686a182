use super::*;
use crate::json::classify::{object_tokens, BLOCK};
use crate::json::strict::KEYS_IN_LIST;
use crate::json::MAX_DEPTH;
use serde_json::Value;

/// The walk alone, classifying the text itself.
fn read(text: &str) -> Option<RecordHead<'_>> {
    walk::with_tokens(text.as_bytes(), |walk| {
        walk_head(walk, text, Vec::new(), IdentityRead::TypeAndArn, &mut None)
    })
}

/// The walk alone, from the splitter's tokens.
fn read_with_tokens<'a>(
    text: &'a str,
    tokens: Tokens<'_>,
    fields: Vec<(Cow<'a, str>, &'a str)>,
) -> Option<RecordHead<'a>> {
    walk_found(text, tokens, fields, IdentityRead::TypeAndArn, &mut None)
}

/// The walk alone, from the splitter's tokens, building `userIdentity`
/// (never for a text with escapes).
fn read_with_identity<'a>(
    text: &'a str,
    tokens: Tokens<'_>,
    fields: Vec<(Cow<'a, str>, &'a str)>,
) -> Option<RecordHead<'a>> {
    if tokens.escapes {
        return None;
    }
    walk_found(text, tokens, fields, IdentityRead::Build, &mut None)
}

/// The walk gives the serde_json read's head or gives up; it never accepts
/// what that read rejects.
fn agrees(text: &str) -> bool {
    same_as_serde(read(text), text)
}

/// Whether the quick read of `text` took it, having given serde_json's
/// head; a panic when it took what serde_json rejects.
fn same_as_serde(quick: Option<RecordHead<'_>>, text: &str) -> bool {
    match (&quick, &read_by_serde(text)) {
        (Some(quick), Ok(serde)) => {
            assert_eq!(quick, serde, "{text}");
            true
        }
        (Some(_), Err(err)) => panic!("accepted what serde_json rejects ({err}): {text}"),
        (None, _) => false,
    }
}

/// The records of a generated log of 3,000.
fn generated_records() -> Vec<String> {
    let spec = crate::generate::Spec {
        records: 3000,
        seed: 11,
        match_per_mille: 20,
    };
    let mut log = Vec::new();
    crate::generate::write_log(&spec, &mut log).expect("generated");
    records_of(&log)
}

/// [`agrees`] for the read from the splitter's tokens, which takes
/// records with escapes too: `None` when the splitter leaves the record.
fn agrees_from_tokens(text: &str) -> Option<bool> {
    let mut buf = text.as_bytes().to_vec();
    buf.extend([b' '; BLOCK]);
    let mut masks = Vec::new();
    let (len, escapes) = object_tokens(&buf, &mut masks)?;
    assert_eq!(len, text.trim_end().len(), "{text}");
    let tokens = Tokens {
        masks: &masks,
        escapes,
    };
    let quick = read_with_tokens(text.get(..len)?, tokens, Vec::new());
    Some(same_as_serde(quick, text))
}

/// Splits a `{"Records":[...]}` log into its records' texts.
fn records_of(log: &[u8]) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Log<'a> {
        #[serde(borrow, rename = "Records")]
        records: Vec<&'a RawValue>,
    }
    let log: Log<'_> = serde_json::from_slice(log).expect("a log");
    log.records
        .iter()
        .map(|raw| raw.get().to_string())
        .collect()
}

/// Why the walk may leave a valid record to serde_json: an escape, or a
/// head field holding an object or array.
fn left_on_purpose(text: &str) -> bool {
    let value: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
    let container =
        |v: Option<&serde_json::Value>| v.is_some_and(|v| v.is_object() || v.is_array());
    text.contains('\\')
        || [
            "eventSource",
            "eventName",
            "errorCode",
            "userAgent",
            "eventTime",
        ]
        .iter()
        .any(|key| container(value.get(key)))
        || ["type", "arn"]
            .iter()
            .any(|key| container(value.get("userIdentity").and_then(|u| u.get(key))))
}

/// How many of `records` the walk read; each it did not, it left on
/// purpose.
fn walked<'a>(records: impl IntoIterator<Item = &'a str>) -> usize {
    let mut walked = 0;
    for record in records {
        if agrees(record) {
            walked += 1;
        } else {
            assert!(left_on_purpose(record), "not walked: {record}");
        }
    }
    walked
}

/// From the splitter's tokens, records with escapes are read as well, as
/// serde_json reads them.
#[test]
fn records_with_escapes_read_alike_from_tokens() {
    let corpus = include_str!("../../../tests/data/corpus-records.jsonl");
    let generated = generated_records();
    let (mut escaped, mut read) = (0, 0);
    for text in corpus
        .lines()
        .filter(|l| !l.trim().is_empty())
        .chain(generated.iter().map(String::as_str))
    {
        if let Some(walked) = agrees_from_tokens(text) {
            if text.contains('\\') {
                escaped += 1;
                read += usize::from(walked);
            }
        }
    }
    assert!(
        escaped > 100 && read * 10 > escaped * 9,
        "{read} of {escaped}"
    );
    for (text, walked) in [
        (r#"{"a":"x\"y","eventName":"E"}"#, Some(true)),
        (
            r#"{"userAgent":"a \"quoted\" agent\u00e9","userIdentity":{"arn":"a\/b"}}"#,
            Some(true),
        ),
        (r#"{"a":"\\","b":"\/\b\f\n\r\t\u12aB"}"#, Some(true)),
        (r#"{"a":"\ud800"}"#, Some(true)),
        (r#"{"eventName":"\ud800"}"#, Some(false)),
        (r#"{"\u0061":1,"a":2}"#, Some(false)),
        (r#"{"a":"\q"}"#, None),
        (r#"{"a":"\u12"}"#, None),
        (r#"{"a":"\u12g4"}"#, None),
        (r#"{"a":["\x"]}"#, None),
    ] {
        let got = agrees_from_tokens(text).expect("found by the splitter");
        match walked {
            Some(walked) => assert_eq!(got, walked, "{text}"),
            None => {
                assert!(!got, "{text}");
                assert!(read_by_serde(text).is_err(), "{text}");
            }
        }
    }
}

#[test]
fn corpus_records_read_alike() {
    let corpus = include_str!("../../../tests/data/corpus-records.jsonl");
    let walked = walked(corpus.lines().filter(|l| !l.trim().is_empty()));
    assert!(walked > 600, "{walked}");
}

#[test]
fn generated_records_read_alike() {
    let records = generated_records();
    assert_eq!(records.len(), 3000);
    let walked = walked(records.iter().map(String::as_str));
    assert!(walked > 2700, "{walked}");
}

/// Valid and invalid records, some the walk reads and some it leaves to
/// serde_json: either way, never a head serde_json would not give.
#[test]
fn table_of_shapes() {
    let table: &[(&str, Option<bool>)] = &[
        // (record, walked?) — None: invalid, so never walked.
        (r#"{}"#, Some(true)),
        (r#" { } "#, Some(true)),
        (
            r#"{"eventName":"A","eventSource":"s","userIdentity":{"type":"T","arn":"x"}}"#,
            Some(true),
        ),
        (
            r#"{ "eventName" : "A" , "n" : [ 1 , -2.5e+3 , true , null , { } , [ ] ] }"#,
            Some(true),
        ),
        (
            r#"{"eventName":null,"errorCode":true,"userAgent":false}"#,
            Some(true),
        ),
        // Numbers in head fields are serde_json's (it parses them).
        (r#"{"eventName":5}"#, Some(false)),
        (r#"{"eventName":1e999}"#, None),
        (r#"{"userIdentity":{"type":6666666666666666e666}}"#, None),
        (r#"{"userIdentity":{"arn":-1.5}}"#, Some(false)),
        (r#"{"other":1e999}"#, Some(true)),
        (r#"{"userIdentity":1e999}"#, None),
        (r#"{"userIdentity":7}"#, Some(false)),
        (r#"{"userIdentity":true}"#, Some(true)),
        (r#"{"userIdentity":null}"#, Some(true)),
        (r#"{"userIdentity":"someone"}"#, Some(true)),
        (r#"{"userIdentity":{"type":{"a":1}}}"#, Some(false)),
        (r#"{"eventName":{"a":1}}"#, Some(false)),
        (r#"{"eventName":["a"]}"#, Some(false)),
        (r#"{"userIdentity":[1]}"#, Some(false)),
        (r#"{"a":"é ünïcødé ✓"}"#, Some(true)),
        (r#"{"a":"x\"y"}"#, Some(false)),
        (r#"{"a":1,"a":2}"#, None),
        (r#"{"userIdentity":{"arn":"a","arn":"b"}}"#, None),
        (r#"{"a":{"b":1,"b":2}}"#, Some(true)),
        // Keys alike in length and at both ends hash alike: told apart by
        // their bytes.
        (
            r#"{"requestXParameters":1,"requestYParameters":2}"#,
            Some(true),
        ),
        (r#"{"requestXParameters":1,"requestXParameters":2}"#, None),
        (r#"{"eventSourcf":"a","eventSource":"b"}"#, Some(true)),
        (r#"{"a":1,}"#, None),
        (r#"{"a":[1,]}"#, None),
        (r#"{"a":[,1]}"#, None),
        (r#"{"a"1}"#, None),
        (r#"{"a":}"#, None),
        (r#"{"a"::1}"#, None),
        (r#"{"a":1 "b":2}"#, None),
        (r#"{"a":tru}"#, None),
        (r#"{"a":nul}"#, None),
        (r#"{"a":01}"#, None),
        (r#"{"a":1.}"#, None),
        (r#"{"a":.5}"#, None),
        (r#"{"a":-}"#, None),
        (r#"{"a":1e}"#, None),
        (r#"{"a":+1}"#, None),
        (r#"{"a":1e400}"#, Some(true)),
        (r#"{"a":[}"#, None),
        (r#"{"a":{]}"#, None),
        (r#"{"a":"b"}}"#, None),
        (r#"{"a":"b"} x"#, None),
        (r#"{"a":"b""#, None),
        (r#"{"a":"b"#, None),
        (r#"{"a" "b"}"#, None),
        (r#"{1:2}"#, None),
        (r#"[1]"#, None),
        (r#""x""#, None),
        ("{\"a\":\"tab\there\"}", None),
        ("{\"a\":\n1\t}", Some(true)),
        // Nested values no rule reads, checked in one loop (`Walk::container`).
        (r#"{"a":[{}],"b":[[],[[]],{"c":[]}]}"#, Some(true)),
        (
            r#"{"a":{"b":{"c":[1,{"d":"e"},[true,null]]}},"f":"g"}"#,
            Some(true),
        ),
        (
            r#"{"a" : [ { } , [ ] , { "b" : [ ] } ] , "c" : { } }"#,
            Some(true),
        ),
        ("{\"a\":[\n{\"b\":\t1\r}\n]}", Some(true)),
        (r#"{"a":[{"b":1},]}"#, None),
        (r#"{"a":[{"b" 1}]}"#, None),
        (r#"{"a":{"b":[1 2]}}"#, None),
        (r#"{"a":[{]}"#, None),
        (r#"{"a":[}]}"#, None),
        (r#"{"a":{"b":{}}]}"#, None),
        (r#"{"a":[[1],[2]]]}"#, None),
        (r#"{"a":[[1],,[2]]}"#, None),
        (r#"{"a":{"b":1,}}"#, None),
        (r#"{"a":{,"b":1}}"#, None),
        (r#"{"a":{"b"}}"#, None),
        (r#"{"a":[{"b":1}{"c":2}]}"#, None),
        (r#"{"a":[1]2}"#, None),
        (r#"{"a":{"b":[]} "c":1}"#, None),
        (r#"{"a":[tru]}"#, None),
        (r#"{"a":{"b":[{"c":-0.5e-3}]}}"#, Some(true)),
        ("{\"a\":\u{b}1}", None),
        ("{\"a\":1\u{0}}", None),
    ];
    for (text, expected) in table {
        let walked = agrees(text);
        match expected {
            Some(walked_too) => assert_eq!(walked, *walked_too, "{text}"),
            None => {
                assert!(!walked, "{text}");
                assert!(read_by_serde(text).is_err(), "{text}");
            }
        }
    }
}

/// An object with more keys than the walk keeps is the serde_json read's.
#[test]
fn many_keys_are_left_to_serde_json() {
    let record = |n: usize| {
        let members: Vec<String> = (0..n).map(|i| format!(r#""k{i}":{i}"#)).collect();
        format!("{{{}}}", members.join(","))
    };
    assert!(agrees(&record(KEYS_IN_LIST)));
    assert!(!agrees(&record(KEYS_IN_LIST + 1)));
    assert!(read_by_serde(&record(KEYS_IN_LIST + 1)).is_ok());
}

/// Nesting past the walk's limit is left to serde_json (which rejects
/// past its own).
#[test]
fn deep_records_are_left_to_serde_json() {
    let deep = |n: usize| format!(r#"{{"a":{}1{}}}"#, "[".repeat(n), "]".repeat(n));
    assert!(agrees(&deep(10)));
    assert!(!agrees(&deep(MAX_DEPTH + 5)));
}

/// Every top-level value of the corpus records, and a table of shapes,
/// reads as serde_json reads it, or is left to it.
#[test]
fn values_read_as_serde_json_reads_them() {
    let corpus = include_str!("../../../tests/data/corpus-records.jsonl");
    let mut texts: Vec<String> = Vec::new();
    for line in corpus.lines().filter(|l| !l.trim().is_empty()) {
        let head = read_by_serde(line).expect("valid");
        texts.extend(head.fields.iter().map(|(_, raw)| raw.to_string()));
    }
    let walked_before = texts.len();
    for text in [
        r#"{"a":[1,-2,9223372036854775807,9223372036854775808,18446744073709551615]}"#,
        r#"18446744073709551616"#,
        r#"-9223372036854775809"#,
        r#"[1.5, 2e3, -0, 0]"#,
        r#"{"mark":-0,"n":-1,"z":0}"#,
        r#"-0"#,
        r#"{"a":{"b":[{"c":null,"d":true,"e":false}]}, "f": "x y"}"#,
        r#"{"a":1,"a":2}"#,
        r#"{"a":{"b":1,"b":2}}"#,
        r#"[1,]"#,
        r#" "padded" "#,
        r#""esc"aped""#,
    ] {
        texts.push(text.to_string());
    }
    let mut walked = 0;
    for text in &texts {
        let serde = BorrowedValue::parse_by_serde(text);
        match (walk::value(text), &serde) {
            (Some(quick), Ok(serde)) => {
                assert_eq!(&quick, serde, "{text}");
                walked += 1;
            }
            (Some(_), Err(err)) => panic!("accepted what serde_json rejects ({err}): {text}"),
            (None, _) => {}
        }
        // Either way, BorrowedValue::parse answers as serde_json does.
        assert_eq!(
            BorrowedValue::parse(text).map_err(|e| e.to_string()),
            serde.map_err(|e| e.to_string()),
            "{text}"
        );
    }
    // The corpus has escapes and floats in a few values.
    assert!(
        walked * 5 > walked_before * 4,
        "{walked} of {walked_before}"
    );
}

/// The head read that builds `userIdentity` too, from the splitter's
/// tokens: `(with the identity, without it)`, `None` when the splitter
/// leaves the record.
fn both_reads(text: &str) -> Option<(Option<RecordHead<'_>>, Option<RecordHead<'_>>)> {
    let mut buf = text.as_bytes().to_vec();
    buf.extend([b' '; BLOCK]);
    let mut masks = Vec::new();
    let (len, escapes) = object_tokens(&buf, &mut masks)?;
    let tokens = Tokens {
        masks: &masks,
        escapes,
    };
    let text = text.get(..len)?;
    Some((
        read_with_identity(text, tokens, Vec::new()),
        read_with_tokens(text, tokens, Vec::new()),
    ))
}

/// Building `userIdentity` in the head read changes nothing the rules see:
/// the same head as without it, and the identity as `BorrowedValue::parse` gives it
/// from the field's text; where building gives up, the read without it
/// decides.
#[test]
fn the_identity_built_in_the_head_read_is_the_one_parsed_later() {
    let corpus = include_str!("../../../tests/data/corpus-records.jsonl");
    let generated = generated_records();
    let edge_cases = [
        r#"{"userIdentity":{"type":"Root","arn":"a","n":1.5},"eventName":"X"}"#,
        r#"{"userIdentity":{"type":"Root","s":{"k":1,"k":2}},"eventName":"X"}"#,
        r#"{"userIdentity":{"type":7},"eventName":"X"}"#,
        r#"{"userIdentity":{"type":null,"arn":true},"eventName":"X"}"#,
        r#"{"userIdentity":{"type":"A","type":"B"}}"#,
        r#"{"userIdentity":"text","eventName":"X"}"#,
        r#"{"userIdentity":{},"eventName":"X"}"#,
        r#"{"userIdentity":{"arn":"a\u00e9"},"eventName":"X"}"#,
        r#"{"eventName":"X"}"#,
    ];
    let (mut built, mut records) = (0, 0);
    for text in corpus
        .lines()
        .filter(|l| !l.trim().is_empty())
        .chain(generated.iter().map(String::as_str))
        .chain(edge_cases)
    {
        let Some((with, without)) = both_reads(text) else {
            continue;
        };
        records += 1;
        let Some(mut with) = with else {
            continue;
        };
        let identity = with.identity.take();
        let without = without.expect("the head read without the identity takes it too");
        assert_eq!(with, without, "{text}");
        let raw = with.fields.iter().find(|(key, _)| key == "userIdentity");
        match (identity, raw) {
            (Some(identity), Some((_, raw))) => {
                let parsed = BorrowedValue::parse(raw).expect("the identity parses");
                assert_eq!(identity, parsed, "{text}");
                built += 1;
            }
            // Not an object (or absent): nothing built.
            (None, raw) => assert!(raw.is_none_or(|(_, raw)| !raw.starts_with('{')), "{text}"),
            (Some(_), None) => panic!("an identity built from no field: {text}"),
        }
    }
    assert!(built * 10 > records * 9, "{built} of {records} built");
    // A float, or a duplicate key deeper down: building gives up, the
    // plain head read does not; a number as `type`: both leave it.
    let gives_up =
        |text: &str| both_reads(text).map(|(with, without)| (with.is_some(), without.is_some()));
    assert_eq!(gives_up(edge_cases[0]), Some((false, true)));
    assert_eq!(gives_up(edge_cases[1]), Some((false, true)));
    assert_eq!(gives_up(edge_cases[2]), Some((false, false)));
    assert_eq!(gives_up(edge_cases[4]), Some((false, false)));
    // Escapes: left to the plain read.
    assert_eq!(gives_up(edge_cases[7]), Some((false, true)));
}

/// The head as the strict check of the whole record and then the read
/// give it: the first problem in the record named.
fn strict(bytes: &[u8]) -> Result<RecordHead<'_>, serde_json::Error> {
    crate::json::check(bytes)?;
    RecordHead::read(bytes)
}

#[test]
fn head_borrows_strings_and_tolerates_other_types() {
    let bytes = br#"{"eventSource":"lambda.amazonaws.com","eventName":"Invoke","x":{"y":[1]}}"#;
    let head = strict(bytes).expect("valid");
    assert!(matches!(
        head.event_source,
        Lenient::Text(Cow::Borrowed("lambda.amazonaws.com"))
    ));
    assert_eq!(head.event_name.as_deref(), Some("Invoke"));
    let odd = strict(br#"{"eventSource":{"a":[1]},"eventName":7}"#).expect("valid");
    assert_eq!(
        (odd.event_source.as_deref(), odd.event_name.as_deref()),
        (None, None)
    );
    let insight = strict(br#"{"eventType":"AwsCloudTrailInsight"}"#).expect("valid");
    assert!(insight.event_source.as_deref().is_none());
    assert!(strict(br#"{"eventName":"A","x":tru}"#).is_err());
}

#[test]
fn head_reads_the_index_fields_identity_type_nested() {
    let head = strict(
        br#"{"userAgent":"TruffleHog","errorCode":"AccessDenied","userIdentity":{"arn":"a","type":"Root","x":{"type":"no"}}}"#,
    )
    .expect("valid");
    assert_eq!(
        (
            head.user_agent.as_deref(),
            head.error_code.as_deref(),
            head.identity_type.as_deref()
        ),
        (Some("TruffleHog"), Some("AccessDenied"), Some("Root"))
    );
    for odd in [
        &br#"{"userIdentity":"Root"}"#[..],
        br#"{"userIdentity":["Root"]}"#,
        br#"{"userIdentity":{"type":{"type":"Root"}}}"#,
        br#"{"type":"Root"}"#,
    ] {
        let head = strict(odd).expect("valid");
        assert_eq!(head.identity_type.as_deref(), None, "{odd:?}");
    }
    // The identity object is checked like the rest of the record.
    assert!(
        head_error(br#"{"userIdentity":{"type":"Root","type":"IAMUser"}}"#)
            .starts_with("duplicate key \"type\"")
    );
}

/// The fast read agrees with the strict parse on every field and on what
/// decides which rules run; only deeper problems are left to
/// `json::check`, which runs before any rule sees the record.
#[test]
fn the_quick_read_checks_what_decides_which_rules_run() {
    let fields = |head: &RecordHead| {
        [
            head.event_source.as_deref().map(str::to_string),
            head.event_name.as_deref().map(str::to_string),
            head.error_code.as_deref().map(str::to_string),
            head.user_agent.as_deref().map(str::to_string),
            head.identity_type.as_deref().map(str::to_string),
            head.identity_arn.as_deref().map(str::to_string),
        ]
    };
    let record = br#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject","x":{"y":[1,2.5,null,true]},"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s","sessionContext":{"a":{"b":"c"}}},"errorCode":"NoSuchKey","userAgent":"caf\u00e9"}"#;
    let quick = RecordHead::read(record).expect("valid");
    let strict = strict(record).expect("valid");
    assert_eq!(fields(&quick), fields(&strict));
    assert_eq!(
        quick.identity_arn.as_deref(),
        Some("arn:aws:sts::1:assumed-role/r/s")
    );
    // Both reject what is not JSON, not UTF-8, or not an object.
    for bad in [
        &b"{\"a\":tru}"[..],
        b"{\"a\":\"x\xff\"}",
        b"{\"a\":{\"b\":[\"\xc3\"]}}",
        b"{\"a\":\"\x00\"}",
        b"{\"a\":1",
        b"{\"a\":1} x",
        b"[{}]",
    ] {
        let err = RecordHead::read(bad).expect_err("invalid").to_string();
        let strict = head_error(bad);
        let what = |e: &str| e.split(" at line").next().unwrap_or_default().to_string();
        assert_eq!(
            what(&err),
            what(&strict),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // Duplicate keys where they decide the rules: rejected at once.
    for bad in [
        &br#"{"eventName":"A","x":1,"eventName":"B"}"#[..],
        br#"{"userIdentity":{"type":"Root","type":"IAMUser"}}"#,
        br#"{"a":1,"a":2}"#,
    ] {
        let err = RecordHead::read(bad).expect_err("duplicate").to_string();
        assert!(err.starts_with("duplicate key"), "{err}");
    }
    // Deeper down, left to the whole-record check.
    let nested = br#"{"eventName":"A","requestParameters":{"k":1,"k":2}}"#;
    RecordHead::read(nested).expect("read");
    let err = crate::json::check(nested)
        .expect_err("checked whole")
        .to_string();
    assert!(err.starts_with("duplicate key \"k\""), "{err}");
}

fn head_error(bytes: &[u8]) -> String {
    match strict(bytes) {
        Ok(head) => panic!("accepted {:?}: {head:?}", String::from_utf8_lossy(bytes)),
        Err(err) => err.to_string(),
    }
}

/// What the head rejects, and that the full parse agrees on everything
/// but duplicate keys and depth (which only the head checks).
#[test]
fn head_checks_the_whole_record() {
    let cases: &[(&[u8], &str, bool)] = &[
        (
            b"{\"a\":\"x\xff\"}",
            "a string is not valid UTF-8 at line 1 column",
            true,
        ),
        (
            b"{\"a\":{\"b\":[\"\xc3\"]}}",
            "a string is not valid UTF-8",
            true,
        ),
        (b"{\"k\xfe\":1}", "a string is not valid UTF-8", true),
        (
            b"{\"eventName\":\"\xe9\"}",
            "a string is not valid UTF-8",
            true,
        ),
        (
            b"{\"eventName\":[\"\xe9\"]}",
            "a string is not valid UTF-8",
            true,
        ),
        (b"{\"a\":\"\x00\"}", "control character", true),
        (br#"{"a":"\ud800"}"#, "hex escape", true),
        (br#"{"a":1e400}"#, "number out of range", true),
        (b"{\"a\":tru}", "expected ident", true),
        (b"{\"a\":1", "EOF while parsing", true),
        (b"{\"a\":1} x", "trailing characters", true),
        (
            b"1",
            "invalid type: integer `1`, expected a CloudTrail record (a JSON object)",
            true,
        ),
        (b"\"s\"", "expected a CloudTrail record", true),
        (b"null", "expected a CloudTrail record", true),
        (b"[{}]", "expected a CloudTrail record", true),
        (
            br#"{"eventName":"A","eventName":"B"}"#,
            "duplicate key \"eventName\" at line 1 column",
            false,
        ),
        (
            br#"{"eventName":"A","x":1,"eventName":7}"#,
            "duplicate key \"eventName\"",
            false,
        ),
        (br#"{"a":1,"a":1}"#, "duplicate key \"a\"", false),
        (
            br#"{"u":{"arn":"x","arn":"y"}}"#,
            "duplicate key \"arn\"",
            false,
        ),
        (
            br#"{"u":[{"k":1},{"k":1,"k":2}]}"#,
            "duplicate key \"k\"",
            false,
        ),
        (
            br#"{"eventSource":{"k":1,"k":2}}"#,
            "duplicate key \"k\"",
            false,
        ),
        // Escapes do not hide a duplicate.
        (
            br#"{"eventName":"A","event\u004eame":"B"}"#,
            "duplicate key \"eventName\"",
            false,
        ),
    ];
    for (bytes, want, value_rejects) in cases {
        let err = head_error(bytes);
        assert!(
            err.contains(want),
            "{:?}: got {err}, want {want}",
            String::from_utf8_lossy(bytes)
        );
        let value = serde_json::from_slice::<Value>(bytes);
        // A record that is not an object parses as a Value, but the head
        // rejects it first.
        if *value_rejects && bytes.starts_with(b"{") {
            assert!(
                value.is_err(),
                "Value accepts {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}

#[test]
fn nesting_is_limited_without_deep_recursion() {
    let nest = |levels: usize| {
        format!(
            "{{\"a\":{}{}}}",
            "[".repeat(levels - 1),
            "]".repeat(levels - 1)
        )
    };
    strict(nest(MAX_DEPTH).as_bytes()).expect("at the limit");
    let err = head_error(nest(MAX_DEPTH + 1).as_bytes());
    assert!(err.contains("nested deeper than 100 levels"), "{err}");
    let err = head_error(nest(10_000).as_bytes());
    assert!(err.contains("nested deeper than 100 levels"), "{err}");
    let in_name = format!(
        "{{\"eventName\":{}{}}}",
        "{\"a\":".repeat(200),
        "}".repeat(200)
    );
    assert!(head_error(in_name.as_bytes()).contains("nested deeper"));
    // What the head accepts, the full parse accepts too.
    serde_json::from_slice::<Value>(nest(MAX_DEPTH).as_bytes()).expect("Value at the limit");
}

#[test]
fn many_keys_are_checked_in_linear_time() {
    let keys: Vec<String> = (0..50_000).map(|i| format!("\"k{i}\":{i}")).collect();
    let record = format!("{{\"o\":{{{}}}}}", keys.join(","));
    strict(record.as_bytes()).expect("distinct keys");
    let record = format!("{{\"o\":{{{},\"k49999\":0}}}}", keys.join(","));
    assert!(head_error(record.as_bytes()).contains("duplicate key \"k49999\""));
    let record = format!("{{\"o\":{{{},\"k3\":0}}}}", keys.join(","));
    assert!(head_error(record.as_bytes()).contains("duplicate key \"k3\""));
}
