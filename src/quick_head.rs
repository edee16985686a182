//! A record's head read in one pass over its structure.
//!
//! [`crate::record::RecordHead::read`] reads every record; with serde_json
//! that read cost more than inflating the log. Here the record is walked
//! by its structural characters alone ([`crate::json_bits`]): the bytes
//! inside strings are never looked at one by one. The walk checks what the
//! serde_json read checks (JSON syntax, no control character in a string,
//! no duplicate key at the top level or in `userIdentity`; the text is
//! UTF-8 already) and gives the same head, or gives up: on an escape (from
//! the splitter's tokens, [`read_with_tokens`]: on an escape in a key or
//! one that serde_json would reject), a head field that is not a string or
//! a plain value, nesting past [`DEEPEST`], a duplicate key or anything it
//! does not accept. The serde_json read then decides, with its own messages, so an
//! invalid record is reported exactly as before and a valid one the walk
//! accepts has the same head either way (tested on every record of the
//! corpus and of generated logs).

use std::borrow::Cow;

use std::cell::RefCell;

use crate::json_bits::{plain_tokens, RecordTokens, BLOCK};
use crate::record::{Lenient, RecordHead};
use crate::rules::Lite;

/// Deeper records are left to the serde_json read (CloudTrail's nest a
/// dozen levels at most).
const DEEPEST: u32 = 64;

/// The head of `text`, a whole record; `None` when the serde_json read
/// must decide.
pub fn read(text: &str) -> Option<RecordHead<'_>> {
    read_with(text, Vec::new())
}

/// [`read`] into `fields`, an empty list whose allocation is used again.
pub fn read_with<'a>(
    text: &'a str,
    fields: Vec<(Cow<'a, str>, &'a str)>,
) -> Option<RecordHead<'a>> {
    with_tokens(text.as_bytes(), |walk| head_of(walk, text, fields, false))
}

/// [`read_with`] from the text's tokens, found already
/// ([`crate::json_bits::record_tokens`]). A record with escapes is read
/// too: its escapes are checked as serde_json checks those it skips, and
/// the head fields that have one are decoded by serde_json; a key with an
/// escape is the serde_json read's.
pub fn read_with_tokens<'a>(
    text: &'a str,
    tokens: RecordTokens<'_>,
    fields: Vec<(Cow<'a, str>, &'a str)>,
) -> Option<RecordHead<'a>> {
    if tokens.escapes && !escapes_are_valid(text.as_bytes()) {
        return None;
    }
    with_keys(text.as_bytes(), tokens, |walk| {
        head_of(walk, text, fields, false)
    })
}

/// [`read_with_tokens`], `userIdentity` built for the rules on the way
/// ([`RecordHead::identity`]): where most records have a rule reading it,
/// building it as the walk goes spares classifying and walking it again
/// ([`lite`]). `None` for a text with escapes, and wherever building gives
/// up (a float, a duplicate key deeper in it): [`read_with_tokens`] then
/// decides.
pub fn read_with_identity<'a>(
    text: &'a str,
    tokens: RecordTokens<'_>,
    fields: Vec<(Cow<'a, str>, &'a str)>,
) -> Option<RecordHead<'a>> {
    if tokens.escapes {
        return None;
    }
    with_keys(text.as_bytes(), tokens, |walk| {
        head_of(walk, text, fields, true)
    })
}

/// Every backslash of `text` (one with escapes, inside its strings)
/// starts an escape serde_json accepts where it skips a string: one of
/// `"\/bfnrt`, or `u` and four hex digits. (The strings it decodes, keys
/// and head fields, it checks itself.)
fn escapes_are_valid(text: &[u8]) -> bool {
    let mut from = 0;
    while let Some(found) = text
        .get(from..)
        .and_then(|rest| memchr::memchr(b'\\', rest))
    {
        let at = from + found;
        match text.get(at + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => from = at + 2,
            Some(b'u') => {
                let hex = text.get(at + 2..at + 6);
                if !hex.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                from = at + 6;
            }
            _ => return false,
        }
    }
    true
}

/// The head of the record the walk is over (its text `text`), with
/// `userIdentity` built when `identity` says so.
fn head_of<'a>(
    mut walk: Walk<'a, '_>,
    text: &'a str,
    fields: Vec<(Cow<'a, str>, &'a str)>,
    identity: bool,
) -> Option<RecordHead<'a>> {
    let mut head = RecordHead {
        text,
        fields,
        ..RecordHead::default()
    };
    let start = walk.start_of(0);
    if walk.byte(start) != b'{' || walk.next()? != start {
        return None;
    }
    let end = walk.record(start, text, &mut head, identity)?;
    walk.ws_only(end, walk.text.len()).then_some(head)
}

/// One value of a record whose head this walk read (so free of escapes),
/// as [`Lite::parse`] gives it; `None` when that parse must decide (a
/// float, a number beyond 64 bits, a duplicate key, anything unexpected).
/// Parsing `userIdentity` with serde_json for every record a rule may
/// match cost more than finding the record's head.
pub fn lite(text: &str) -> Option<Lite<'_>> {
    with_tokens(text.as_bytes(), |mut walk| {
        let (value, _, after) = walk.build(0, text, 2)?;
        (after == walk.text.len()).then_some(value)
    })
}

/// The head's string fields, by key and its [`key_hash`] (compared
/// first: most keys are none of these).
fn head_slot<'h, 'a>(
    head: &'h mut RecordHead<'a>,
    key: &[u8],
    hash: u64,
) -> Option<&'h mut Lenient<'a>> {
    const EVENT_SOURCE: u64 = key_hash(b"eventSource");
    const EVENT_NAME: u64 = key_hash(b"eventName");
    const ERROR_CODE: u64 = key_hash(b"errorCode");
    const USER_AGENT: u64 = key_hash(b"userAgent");
    const EVENT_TIME: u64 = key_hash(b"eventTime");
    let (slot, name): (&mut Lenient<'a>, &[u8]) = match hash {
        EVENT_SOURCE => (&mut head.event_source, b"eventSource"),
        EVENT_NAME => (&mut head.event_name, b"eventName"),
        ERROR_CODE => (&mut head.error_code, b"errorCode"),
        USER_AGENT => (&mut head.user_agent, b"userAgent"),
        EVENT_TIME => (&mut head.event_time, b"eventTime"),
        _ => return None,
    };
    (key == name).then_some(slot)
}

/// A 64-bit hash of an object key: its length and its first and last
/// eight bytes (or all of them), mixed. Equal hashes are compared byte by
/// byte; different ones tell keys apart without a comparison.
const fn key_hash(key: &[u8]) -> u64 {
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

/// The positions of a record's structural characters outside strings and
/// of its quotes, in order, from their masks ([`plain_tokens`]).
struct Tokens<'m> {
    masks: &'m [u64],
    block: usize,
    bits: u64,
}

impl<'m> Tokens<'m> {
    fn new(masks: &'m [u64]) -> Tokens<'m> {
        Tokens {
            masks,
            block: 0,
            bits: masks.first().copied().unwrap_or(0),
        }
    }

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.block += 1;
            self.bits = *self.masks.get(self.block)?;
        }
        let bit = self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(self.block * BLOCK + bit)
    }
}

/// What a walk writes as it goes: kept per thread, not made per record.
#[derive(Default)]
struct Scratch {
    /// The token masks of the text being walked.
    masks: Vec<u64>,
    /// The keys of the objects being walked, outer ones first.
    keys: Vec<(u64, u32, u32)>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch buffers (not re-entered, but
/// should it ever be: buffers of its own).
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut own = Scratch::default();
        let mut shared = cell.try_borrow_mut();
        let scratch = match shared.as_deref_mut() {
            Ok(scratch) => scratch,
            Err(_) => &mut own,
        };
        f(scratch)
    })
}

/// Runs `walk` over the tokens of `text`; `None` when the text has
/// escapes or a control character in a string.
fn with_tokens<'a, R>(
    text: &'a [u8],
    walk: impl for<'m> FnOnce(Walk<'a, 'm>) -> Option<R>,
) -> Option<R> {
    with_scratch(|scratch| {
        if !plain_tokens(text, &mut scratch.masks) {
            return None;
        }
        let tokens = RecordTokens {
            masks: &scratch.masks,
            escapes: false,
        };
        walk(Walk::new(text, tokens, &mut scratch.keys))
    })
}

/// Runs `walk` over `text` with its `tokens`, found already.
fn with_keys<'a, R>(
    text: &'a [u8],
    tokens: RecordTokens<'_>,
    walk: impl for<'m> FnOnce(Walk<'a, 'm>) -> Option<R>,
) -> Option<R> {
    with_scratch(|scratch| walk(Walk::new(text, tokens, &mut scratch.keys)))
}

/// A walk over one text's tokens. Every value is read up to the token
/// after it, which the reader of the value then looks at: no token is
/// looked at twice, and a string's end is found from that token (its
/// closing quote is the last byte but whitespace before it).
struct Walk<'a, 'm> {
    text: &'a [u8],
    tokens: Tokens<'m>,
    keys: &'m mut Vec<(u64, u32, u32)>,
    /// The text has escapes (in its strings): keys and head fields are
    /// looked at for them.
    escapes: bool,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// A value's range and where the token after it is (the text's length
/// when there is none).
type Read = (usize, usize, usize);

impl<'a, 'm> Walk<'a, 'm> {
    /// A walk over `text` and its tokens, with `keys` (emptied) for its
    /// objects' keys.
    fn new(text: &'a [u8], tokens: RecordTokens<'m>, keys: &'m mut Vec<(u64, u32, u32)>) -> Self {
        keys.clear();
        Walk {
            text,
            tokens: Tokens::new(tokens.masks),
            keys,
            escapes: tokens.escapes,
        }
    }
}

impl<'a> Walk<'a, '_> {
    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        self.tokens.next()
    }

    /// The token after a value: its position, or the text's length when
    /// the text ends (which only the outermost value may do).
    #[inline(always)]
    fn after(&mut self) -> usize {
        self.tokens.next().unwrap_or(self.text.len())
    }

    #[inline(always)]
    fn byte(&self, at: usize) -> u8 {
        self.text.get(at).copied().unwrap_or(0)
    }

    #[inline(always)]
    fn ws_only(&self, from: usize, to: usize) -> bool {
        from == to
            || (from < to
                && self
                    .text
                    .get(from..to)
                    .is_some_and(|gap| gap.iter().all(|&b| is_ws(b))))
    }

    /// The first byte at or after `from` that is not whitespace (the
    /// text's length if none is).
    #[inline(always)]
    fn start_of(&self, from: usize) -> usize {
        if !is_ws(self.byte(from)) {
            return from;
        }
        let rest = self.text.get(from..).unwrap_or_default();
        from + rest.iter().position(|&b| !is_ws(b)).unwrap_or(rest.len())
    }

    /// The closing quote of the string opened at `open`, from the token
    /// after the string: only whitespace may follow it before that token.
    /// No other quote that opens or closes a string can be in between
    /// (an opening one would be a token; escaped ones are inside the
    /// string, before its end).
    #[inline(always)]
    fn closing_quote(&self, open: usize, after: usize) -> Option<usize> {
        let mut end = after;
        while end > open + 1 && is_ws(self.byte(end - 1)) {
            end -= 1;
        }
        let close = end.checked_sub(1).filter(|&close| close > open)?;
        (self.byte(close) == b'"').then_some(close)
    }

    /// Whether `text[from..to]` has a backslash.
    fn has_escape(&self, from: usize, to: usize) -> bool {
        self.text
            .get(from..to)
            .is_some_and(|part| memchr::memchr(b'\\', part).is_some())
    }

    /// A head field's value ([`lenient`]), an escaped string decoded.
    fn head_value(&self, text: &'a str, start: usize, end: usize) -> Option<Lenient<'a>> {
        if self.escapes && self.byte(start) == b'"' && self.has_escape(start, end) {
            let decoded: String = serde_json::from_str(text.get(start..end)?).ok()?;
            return Some(Lenient::Text(Cow::Owned(decoded)));
        }
        lenient(text, start, end)
    }

    /// A string whose opening quote at `start` is the next token.
    #[inline(always)]
    fn string(&mut self, start: usize) -> Option<Read> {
        if self.next()? != start {
            return None;
        }
        let after = self.after();
        let close = self.closing_quote(start, after)?;
        Some((start, close + 1, after))
    }

    /// A scalar starting at `start`: up to the next token.
    #[inline(always)]
    fn scalar(&mut self, start: usize) -> Option<Read> {
        let after = self.after();
        let mut end = after;
        while end > start && is_ws(self.byte(end - 1)) {
            end -= 1;
        }
        is_scalar(self.text.get(start..end)?).then_some((start, end, after))
    }

    /// The members of the object whose `{` at `open` was the last token
    /// taken; the position after its `}`. `member` reads each value from
    /// where it may start (after the colon), up to the token after it.
    #[inline(always)]
    fn members(
        &mut self,
        open: usize,
        mut member: impl FnMut(&mut Self, (usize, usize), usize) -> Option<(usize, usize)>,
    ) -> Option<usize> {
        let first = self.start_of(open + 1);
        if self.byte(first) == b'}' {
            return (self.next()? == first).then_some(first + 1);
        }
        let mut from = open + 1;
        let mut at = self.next()?;
        loop {
            if self.byte(at) != b'"' || !self.ws_only(from, at) {
                return None;
            }
            let colon = self.next()?;
            let close = self.closing_quote(at, colon)?;
            if self.byte(colon) != b':' || (self.escapes && self.has_escape(at + 1, close)) {
                return None;
            }
            let (_, after) = member(self, (at + 1, close), colon + 1)?;
            match self.byte(after) {
                b',' => {
                    from = after + 1;
                    at = self.next()?;
                }
                b'}' => return Some(after + 1),
                _ => return None,
            }
        }
    }

    /// The elements of the array whose `[` at `open` was the last token
    /// taken; the position after its `]`. `element` reads each from where
    /// it may start, up to the token after it.
    #[inline(always)]
    fn elements(
        &mut self,
        open: usize,
        mut element: impl FnMut(&mut Self, usize) -> Option<(usize, usize)>,
    ) -> Option<usize> {
        let first = self.start_of(open + 1);
        if self.byte(first) == b']' {
            return (self.next()? == first).then_some(first + 1);
        }
        let mut from = open + 1;
        loop {
            let (_, after) = element(self, from)?;
            match self.byte(after) {
                b',' => from = after + 1,
                b']' => return Some(after + 1),
                _ => return None,
            }
        }
    }

    /// The token after a container that ended at `end`.
    #[inline(always)]
    fn after_container(&mut self, start: usize, end: usize) -> Option<Read> {
        let after = self.after();
        self.ws_only(end, after).then_some((start, end, after))
    }

    /// One value starting after whitespace at `from`, checked, at nesting
    /// level `depth`.
    fn value(&mut self, from: usize, depth: u32) -> Option<Read> {
        let start = self.start_of(from);
        match self.byte(start) {
            b'"' => self.string(start),
            open @ (b'{' | b'[') => {
                if self.next()? != start || depth >= DEEPEST {
                    return None;
                }
                let inner = |walk: &mut Self, from| {
                    walk.value(from, depth + 1)
                        .map(|(_, end, after)| (end, after))
                };
                let end = if open == b'{' {
                    self.members(start, |walk, _, from| inner(walk, from))?
                } else {
                    self.elements(start, inner)?
                };
                self.after_container(start, end)
            }
            _ => self.scalar(start),
        }
    }

    /// One value starting after whitespace at `from`, built.
    fn build(
        &mut self,
        from: usize,
        text: &'a str,
        depth: u32,
    ) -> Option<(Lite<'a>, usize, usize)> {
        let start = self.start_of(from);
        match self.byte(start) {
            b'"' => {
                let (_, end, after) = self.string(start)?;
                Some((
                    Lite::Str(Cow::Borrowed(text.get(start + 1..end - 1)?)),
                    end,
                    after,
                ))
            }
            b'{' => {
                if self.next()? != start || depth >= DEEPEST {
                    return None;
                }
                let mut keys = Keys::at(self);
                // CloudTrail objects have a handful of members: one allocation.
                let mut members = Vec::with_capacity(8);
                let end = self.members(start, |walk, (k0, k1), from| {
                    keys.insert(walk, (k0, k1))?;
                    let (value, end, after) = walk.build(from, text, depth + 1)?;
                    members.push((Cow::Borrowed(text.get(k0..k1)?), value));
                    Some((end, after))
                })?;
                let (_, end, after) = self.after_container(start, end)?;
                Some((Lite::Object(members), end, after))
            }
            b'[' => {
                if self.next()? != start || depth >= DEEPEST {
                    return None;
                }
                let mut items = Vec::new();
                let end = self.elements(start, |walk, from| {
                    let (item, end, after) = walk.build(from, text, depth + 1)?;
                    items.push(item);
                    Some((end, after))
                })?;
                let (_, end, after) = self.after_container(start, end)?;
                Some((Lite::Array(items), end, after))
            }
            _ => {
                let (start, end, after) = self.scalar(start)?;
                Some((scalar(text, start, end)?, end, after))
            }
        }
    }

    /// The record's members, into `head` (`userIdentity` built when
    /// `identity` says so).
    fn record(
        &mut self,
        open: usize,
        text: &'a str,
        head: &mut RecordHead<'a>,
        identity: bool,
    ) -> Option<usize> {
        let mut keys = Keys::at(self);
        head.fields.reserve(32);
        self.members(open, |walk, (k0, k1), from| {
            const USER_IDENTITY: u64 = key_hash(b"userIdentity");
            let key = walk.text.get(k0..k1)?;
            let hash = keys.insert(walk, (k0, k1))?;
            let (v0, v1, after) = if hash == USER_IDENTITY && key == b"userIdentity" {
                if identity {
                    walk.identity_built(from, text, head)?
                } else {
                    walk.identity(from, text, head)?
                }
            } else {
                let read = walk.value(from, 1)?;
                if let Some(slot) = head_slot(head, key, hash) {
                    *slot = walk.head_value(text, read.0, read.1)?;
                }
                read
            };
            head.fields
                .push((Cow::Borrowed(text.get(k0..k1)?), text.get(v0..v1)?));
            Some((v1, after))
        })
    }

    /// `userIdentity` built whole, as [`lite`] builds it, into `head`, its
    /// `type` and `arn` taken from it as [`Walk::identity`] takes them.
    fn identity_built(
        &mut self,
        from: usize,
        text: &'a str,
        head: &mut RecordHead<'a>,
    ) -> Option<Read> {
        let start = self.start_of(from);
        if self.byte(start) != b'{' {
            return self.identity(start, text, head);
        }
        let (value, end, after) = self.build(start, text, 2)?;
        head.identity_type = lenient_member(&value, "type")?;
        head.identity_arn = lenient_member(&value, "arn")?;
        head.identity = Some(value);
        Some((start, end, after))
    }

    /// `userIdentity`: its `type` and `arn` into `head`.
    fn identity(&mut self, from: usize, text: &'a str, head: &mut RecordHead<'a>) -> Option<Read> {
        let start = self.start_of(from);
        match self.byte(start) {
            b'{' => {}
            // A string, `true`, `false`, `null`: no principal. An array,
            // or a number (serde_json parses it), is the serde_json read's.
            b'"' | b't' | b'f' | b'n' => return self.value(start, 1),
            _ => return None,
        }
        if self.next()? != start {
            return None;
        }
        let mut keys = Keys::at(self);
        let end = self.members(start, |walk, (k0, k1), from| {
            keys.insert(walk, (k0, k1))?;
            let (v0, v1, after) = walk.value(from, 2)?;
            match walk.text.get(k0..k1)? {
                b"type" => head.identity_type = walk.head_value(text, v0, v1)?,
                b"arn" => head.identity_arn = walk.head_value(text, v0, v1)?,
                _ => {}
            }
            Some((v1, after))
        })?;
        self.after_container(start, end)
    }
}

/// A head field's value: a string is kept, `null` reads as absent,
/// `true` and `false` as [`Lenient::Other`]. A number, an object or an array is the serde_json
/// read's: it parses a number in a head field, and one out of range makes
/// the record invalid (found by the fuzzer).
fn lenient(text: &str, start: usize, end: usize) -> Option<Lenient<'_>> {
    match text.as_bytes().get(start)? {
        b'"' => Some(Lenient::Text(Cow::Borrowed(text.get(start + 1..end - 1)?))),
        b't' | b'f' => Some(Lenient::Other),
        b'n' => Some(Lenient::Absent),
        _ => None,
    }
}

/// The member `key` of a built object as [`lenient`] reads a head field:
/// absent and `null` read as absent, a boolean as [`Lenient::Other`], a
/// string kept, any other value the serde_json read's.
fn lenient_member<'a>(object: &Lite<'a>, key: &str) -> Option<Lenient<'a>> {
    match object.get(key) {
        None | Some(Lite::Null) => Some(Lenient::Absent),
        Some(Lite::Bool(_)) => Some(Lenient::Other),
        Some(Lite::Str(text)) => Some(Lenient::Text(text.clone())),
        Some(_) => None,
    }
}

/// The scalar `text[start..end]` (checked by [`is_scalar`]), as
/// [`Lite::parse`] reads it; `None` for what serde_json must read.
fn scalar(text: &str, start: usize, end: usize) -> Option<Lite<'_>> {
    Some(match text.as_bytes().get(start..end)? {
        b"true" => Lite::Bool(true),
        b"false" => Lite::Bool(false),
        b"null" => Lite::Null,
        // Floats are serde_json's to read (its rounding), and so is `-0`,
        // which it reads as the float -0.0 (found by the fuzzer).
        number => {
            let number = text.get(start..end).filter(|_| {
                !number.starts_with(b"-0")
                    && !number.iter().any(|b| matches!(b, b'.' | b'e' | b'E'))
            })?;
            match number.parse::<i64>() {
                Ok(int) => Lite::Int(int),
                Err(_) => Lite::UInt(number.parse::<u64>().ok()?),
            }
        }
    })
}

/// An object's keys so far, to find a duplicate: their hashes
/// ([`key_hash`]), and a 64-bit mask of them that spares looking through
/// the hashes for almost every key. The keys are on the walk's stack
/// ([`Walk::keys`]) from `base` on; an object with more than
/// [`MOST_KEYS`] is the serde_json read's.
struct Keys {
    mask: u64,
    base: usize,
    count: usize,
}

/// CloudTrail records have 15 to 25 top-level keys.
const MOST_KEYS: usize = 48;

impl Keys {
    /// The keys of an object starting to be walked: the keys of objects
    /// walked before it at its level or deeper are done with.
    fn at(walk: &Walk<'_, '_>) -> Keys {
        Keys {
            mask: 0,
            base: walk.keys.len(),
            count: 0,
        }
    }

    /// The key's hash; `None` on a duplicate (the serde_json read names
    /// it) or past [`MOST_KEYS`].
    #[inline(always)]
    fn insert(&mut self, walk: &mut Walk<'_, '_>, key: (usize, usize)) -> Option<u64> {
        if self.count >= MOST_KEYS {
            return None;
        }
        let text = walk.text;
        let bytes = text.get(key.0..key.1)?;
        let hash = key_hash(bytes);
        // Keys of nested objects walked since were pushed after ours.
        walk.keys.truncate(self.base + self.count);
        let bit = 1u64 << (hash >> 58);
        if self.mask & bit != 0 {
            let seen = walk.keys.get(self.base..)?;
            let same = |&(other, a, b): &(u64, u32, u32)| {
                other == hash && text.get(a as usize..b as usize) == Some(bytes)
            };
            if seen.iter().any(same) {
                return None;
            }
        }
        self.mask |= bit;
        walk.keys
            .push((hash, u32::try_from(key.0).ok()?, u32::try_from(key.1).ok()?));
        self.count += 1;
        Some(hash)
    }
}

/// `true`, `false`, `null` or a JSON number.
fn is_scalar(text: &[u8]) -> bool {
    matches!(text, b"true" | b"false" | b"null") || is_number(text)
}

fn is_number(text: &[u8]) -> bool {
    let mut i = usize::from(text.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while text.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    match text.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if text.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(text.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(text.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == text.len()
}

#[cfg(test)]
mod tests;
