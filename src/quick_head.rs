//! A record's head read in one pass over its structure.
//!
//! [`crate::record::RecordHead::read`] reads every record; with serde_json
//! that read cost more than inflating the log. Here the record is walked
//! by its structural characters alone ([`crate::json_bits`]): the bytes
//! inside strings are never looked at one by one. The walk checks what the
//! serde_json read checks (JSON syntax, no control character in a string,
//! no duplicate key at the top level or in `userIdentity`; the text is
//! UTF-8 already) and gives the same head, or gives up: on a backslash
//! anywhere in the record, a head field that is not a string or a plain
//! value, nesting past [`DEEPEST`], a duplicate key or anything it does not
//! accept. The serde_json read then decides, with its own messages, so an
//! invalid record is reported exactly as before and a valid one the walk
//! accepts has the same head either way (tested on every record of the
//! corpus and of generated logs).

use std::borrow::Cow;

use std::cell::RefCell;

use crate::json_bits::{plain_tokens, BLOCK};
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
    with_tokens(text.as_bytes(), |mut walk| {
        let mut head = RecordHead {
            text,
            fields,
            ..RecordHead::default()
        };
        let start = walk.skip_ws(0)?;
        if walk.text.get(start) != Some(&b'{') || walk.next()? != start {
            return None;
        }
        let end = walk.record(start, text, &mut head)?;
        walk.ws_only(end, walk.text.len()).then_some(head)
    })
}

/// One value of a record whose head this walk read (so free of escapes),
/// as [`Lite::parse`] gives it; `None` when that parse must decide (a
/// float, a number beyond 64 bits, a duplicate key, anything unexpected).
/// Parsing `userIdentity` with serde_json for every record a rule may
/// match cost more than finding the record's head.
pub fn lite(text: &str) -> Option<Lite<'_>> {
    with_tokens(text.as_bytes(), |mut walk| {
        let (value, end) = walk.build(0, text, 2)?;
        walk.ws_only(end, walk.text.len()).then_some(value)
    })
}

/// The head's string fields, by key.
fn head_slot<'h, 'a>(head: &'h mut RecordHead<'a>, key: &[u8]) -> Option<&'h mut Lenient<'a>> {
    Some(match key {
        b"eventSource" => &mut head.event_source,
        b"eventName" => &mut head.event_name,
        b"errorCode" => &mut head.error_code,
        b"userAgent" => &mut head.user_agent,
        b"eventTime" => &mut head.event_time,
        _ => return None,
    })
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

thread_local! {
    /// The token masks of the text being walked: one buffer per thread,
    /// not one per record.
    static MASKS: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Runs `walk` over the tokens of `text`; `None` when the text has
/// escapes or a control character in a string.
fn with_tokens<'a, R>(
    text: &'a [u8],
    walk: impl for<'m> FnOnce(Walk<'a, 'm>) -> Option<R>,
) -> Option<R> {
    MASKS.with(|cell| {
        let mut own = Vec::new();
        // Not re-entered, but should it ever be: a buffer of its own.
        let mut shared = cell.try_borrow_mut();
        let masks = match shared.as_deref_mut() {
            Ok(masks) => masks,
            Err(_) => &mut own,
        };
        if !plain_tokens(text, masks) {
            return None;
        }
        walk(Walk {
            text,
            tokens: Tokens::new(masks),
            peeked: None,
        })
    })
}

struct Walk<'a, 'm> {
    text: &'a [u8],
    tokens: Tokens<'m>,
    peeked: Option<usize>,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Walk<'a, '_> {
    fn next(&mut self) -> Option<usize> {
        self.peeked.take().or_else(|| self.tokens.next())
    }

    fn peek(&mut self) -> Option<usize> {
        if self.peeked.is_none() {
            self.peeked = self.tokens.next();
        }
        self.peeked
    }

    fn byte(&self, at: usize) -> u8 {
        self.text.get(at).copied().unwrap_or(0)
    }

    fn ws_only(&self, from: usize, to: usize) -> bool {
        from <= to
            && self
                .text
                .get(from..to)
                .is_some_and(|gap| gap.iter().all(|&b| is_ws(b)))
    }

    fn skip_ws(&self, from: usize) -> Option<usize> {
        let rest = self.text.get(from..)?;
        rest.iter().position(|&b| !is_ws(b)).map(|skip| from + skip)
    }

    /// The next token, which must be `want` after nothing but whitespace
    /// from `from`.
    fn expect(&mut self, from: usize, want: u8) -> Option<usize> {
        let at = self.next()?;
        (self.byte(at) == want && self.ws_only(from, at)).then_some(at)
    }

    /// A string whose opening quote is the next token, after whitespace
    /// from `from`: the range of its content.
    fn string(&mut self, from: usize) -> Option<(usize, usize)> {
        let open = self.expect(from, b'"')?;
        // There are no escapes: the string ends with the first quote
        // after `open`, and only whitespace may follow it before the next
        // token (or the end). No quote but that one can be in between:
        // another would open a string, and be a token.
        let mut end = self.peek().unwrap_or(self.text.len());
        while end > open + 1 && is_ws(self.byte(end - 1)) {
            end -= 1;
        }
        let close = end.checked_sub(1).filter(|&close| close > open)?;
        (self.byte(close) == b'"').then_some((open + 1, close))
    }

    /// One value starting after whitespace at `from`: its range.
    fn value(&mut self, from: usize, depth: u32) -> Option<(usize, usize)> {
        let start = self.skip_ws(from)?;
        match self.byte(start) {
            b'"' => self.string(start).map(|(_, close)| (start, close + 1)),
            b'{' | b'[' => {
                if self.next()? != start || depth >= DEEPEST {
                    return None;
                }
                let end = if self.byte(start) == b'{' {
                    self.object(start, depth + 1)?
                } else {
                    self.array(start, depth + 1)?
                };
                Some((start, end))
            }
            _ => {
                let follows = self.peek()?;
                let mut end = follows;
                while end > start && is_ws(self.byte(end - 1)) {
                    end -= 1;
                }
                is_scalar(self.text.get(start..end)?).then_some((start, end))
            }
        }
    }

    /// One value starting after whitespace at `from`, built; its end.
    fn build(&mut self, from: usize, text: &'a str, depth: u32) -> Option<(Lite<'a>, usize)> {
        let start = self.skip_ws(from)?;
        match self.byte(start) {
            b'"' => {
                let (open, close) = self.string(start)?;
                Some((Lite::Str(Cow::Borrowed(text.get(open..close)?)), close + 1))
            }
            b'{' => {
                if self.next()? != start || depth >= DEEPEST {
                    return None;
                }
                let mut keys = Keys::default();
                // CloudTrail objects have a handful of members: one allocation.
                let mut members = Vec::with_capacity(8);
                let end = self.members(start, |walk, (k0, k1), from| {
                    keys.insert(walk.text, (k0, k1))?;
                    let (value, end) = walk.build(from, text, depth + 1)?;
                    members.push((Cow::Borrowed(text.get(k0..k1)?), value));
                    Some(end)
                })?;
                Some((Lite::Object(members), end))
            }
            b'[' => {
                if self.next()? != start || depth >= DEEPEST {
                    return None;
                }
                let mut items = Vec::new();
                let end = self.elements(start, |walk, from| {
                    let (item, end) = walk.build(from, text, depth + 1)?;
                    items.push(item);
                    Some(end)
                })?;
                Some((Lite::Array(items), end))
            }
            _ => {
                let (start, end) = self.value(start, depth)?;
                let scalar = match self.text.get(start..end)? {
                    b"true" => Lite::Bool(true),
                    b"false" => Lite::Bool(false),
                    b"null" => Lite::Null,
                    // Floats are serde_json's to read (its rounding), and
                    // so is `-0`, which it reads as the float -0.0 (found
                    // by the fuzzer).
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
                };
                Some((scalar, end))
            }
        }
    }

    /// The members of an object whose `{` is at `open`; the end of the
    /// object. `member` sees each key and value range.
    fn members(
        &mut self,
        open: usize,
        mut member: impl FnMut(&mut Self, (usize, usize), usize) -> Option<usize>,
    ) -> Option<usize> {
        let first = self.peek()?;
        if self.byte(first) == b'}' {
            self.next();
            return self.ws_only(open + 1, first).then_some(first + 1);
        }
        let mut from = open + 1;
        loop {
            let key = self.string(from)?;
            let colon = self.expect(key.1 + 1, b':')?;
            let end = member(self, key, colon + 1)?;
            let after = self.next()?;
            if !self.ws_only(end, after) {
                return None;
            }
            match self.byte(after) {
                b',' => from = after + 1,
                b'}' => return Some(after + 1),
                _ => return None,
            }
        }
    }

    fn object(&mut self, open: usize, depth: u32) -> Option<usize> {
        self.members(open, |walk, _, from| {
            walk.value(from, depth).map(|(_, end)| end)
        })
    }

    fn array(&mut self, open: usize, depth: u32) -> Option<usize> {
        self.elements(open, |walk, from| {
            walk.value(from, depth).map(|(_, end)| end)
        })
    }

    /// The elements of an array whose `[` is at `open`; the end of the
    /// array. `element` reads each from where it may start.
    fn elements(
        &mut self,
        open: usize,
        mut element: impl FnMut(&mut Self, usize) -> Option<usize>,
    ) -> Option<usize> {
        let first = self.skip_ws(open + 1)?;
        if self.byte(first) == b']' {
            return (self.next()? == first).then_some(first + 1);
        }
        let mut from = open + 1;
        loop {
            let end = element(self, from)?;
            let after = self.next()?;
            if !self.ws_only(end, after) {
                return None;
            }
            match self.byte(after) {
                b',' => from = after + 1,
                b']' => return Some(after + 1),
                _ => return None,
            }
        }
    }

    /// The record's members, into `head`.
    fn record(&mut self, open: usize, text: &'a str, head: &mut RecordHead<'a>) -> Option<usize> {
        let mut keys = Keys::default();
        head.fields.reserve(32);
        self.members(open, |walk, (k0, k1), from| {
            let key = walk.text.get(k0..k1)?;
            keys.insert(walk.text, (k0, k1))?;
            let (v0, v1) = if key == b"userIdentity" {
                walk.identity(from, text, head)?
            } else {
                let (v0, v1) = walk.value(from, 1)?;
                if let Some(slot) = head_slot(head, key) {
                    *slot = walk.lenient(text, v0, v1)?;
                }
                (v0, v1)
            };
            head.fields
                .push((Cow::Borrowed(text.get(k0..k1)?), text.get(v0..v1)?));
            Some(v1)
        })
    }

    /// A head field's value: a string is kept, `true`, `false` and `null`
    /// read as absent. A number, an object or an array is the serde_json
    /// read's: it parses a number in a head field, and one out of range
    /// makes the record invalid (found by the fuzzer).
    fn lenient(&self, text: &'a str, start: usize, end: usize) -> Option<Lenient<'a>> {
        match self.byte(start) {
            b'"' => Some(Lenient(Some(Cow::Borrowed(text.get(start + 1..end - 1)?)))),
            b't' | b'f' | b'n' => Some(Lenient(None)),
            _ => None,
        }
    }

    /// `userIdentity`: its `type` and `arn` into `head`; its range.
    fn identity(
        &mut self,
        from: usize,
        text: &'a str,
        head: &mut RecordHead<'a>,
    ) -> Option<(usize, usize)> {
        let start = self.skip_ws(from)?;
        match self.byte(start) {
            b'{' => {}
            // A string, `true`, `false`, `null`: no principal. An array,
            // or a number (serde_json parses it), is the serde_json read's.
            b'"' | b't' | b'f' | b'n' => return self.value(from, 1),
            _ => return None,
        }
        if self.next()? != start {
            return None;
        }
        let mut keys = Keys::default();
        let end = self.members(start, |walk, (k0, k1), from| {
            keys.insert(walk.text, (k0, k1))?;
            let (v0, v1) = walk.value(from, 2)?;
            match walk.text.get(k0..k1)? {
                b"type" => head.identity_type = walk.lenient(text, v0, v1)?,
                b"arn" => head.identity_arn = walk.lenient(text, v0, v1)?,
                _ => {}
            }
            Some(v1)
        })?;
        Some((start, end))
    }
}

/// An object's keys so far, to find a duplicate: a 64-bit mask of cheap
/// hashes spares the comparisons for almost every key. Kept on the stack;
/// an object with more keys is the serde_json read's.
struct Keys {
    mask: u64,
    seen: [(u32, u32); MOST_KEYS],
    count: usize,
}

/// CloudTrail records have 15 to 25 top-level keys.
const MOST_KEYS: usize = 48;

impl Default for Keys {
    fn default() -> Self {
        Keys {
            mask: 0,
            seen: [(0, 0); MOST_KEYS],
            count: 0,
        }
    }
}

impl Keys {
    /// `None` on a duplicate (the serde_json read names it) or past
    /// [`MOST_KEYS`].
    fn insert(&mut self, text: &[u8], key: (usize, usize)) -> Option<()> {
        let bytes = text.get(key.0..key.1)?;
        let hash = bytes.len() as u64 * 31
            + u64::from(bytes.first().copied().unwrap_or(0)) * 7
            + u64::from(bytes.last().copied().unwrap_or(0));
        let bit = 1u64 << (hash & 63);
        let seen = self.seen.get(..self.count)?;
        if self.mask & bit != 0
            && seen
                .iter()
                .any(|&(a, b)| text.get(a as usize..b as usize) == Some(bytes))
        {
            return None;
        }
        self.mask |= bit;
        *self.seen.get_mut(self.count)? = (u32::try_from(key.0).ok()?, u32::try_from(key.1).ok()?);
        self.count += 1;
        Some(())
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
