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

use crate::json_bits::{classify, StringState, BLOCK};
use crate::record::{Lenient, RecordHead};

/// Deeper records are left to the serde_json read (CloudTrail's nest a
/// dozen levels at most).
const DEEPEST: u32 = 64;

/// The head of `text`, a whole record; `None` when the serde_json read
/// must decide.
pub fn read(text: &str) -> Option<RecordHead<'_>> {
    let mut walk = Walk {
        text: text.as_bytes(),
        tokens: Tokens::new(text.as_bytes()),
        peeked: None,
    };
    let mut head = RecordHead {
        text,
        ..RecordHead::default()
    };
    let start = walk.skip_ws(0)?;
    if walk.text.get(start) != Some(&b'{') || walk.next()? != start {
        return None;
    }
    let end = walk.record(start, text, &mut head)?;
    walk.ws_only(end, walk.text.len()).then_some(head)
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
/// of its quotes, in order.
struct Tokens<'a> {
    text: &'a [u8],
    /// Where the block `bits` belong to starts.
    at: usize,
    bits: u64,
    next_block: usize,
    strings: StringState,
    /// A backslash or a control character in a string: give up.
    refused: bool,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a [u8]) -> Tokens<'a> {
        Tokens {
            text,
            at: 0,
            bits: 0,
            next_block: 0,
            strings: StringState::default(),
            refused: false,
        }
    }

    fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            if self.refused || self.next_block >= self.text.len() {
                return None;
            }
            self.load();
        }
        let bit = self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(self.at + bit)
    }

    fn load(&mut self) {
        let start = self.next_block;
        let rest = self.text.get(start..).unwrap_or_default();
        // The last block is padded with spaces, which are no tokens.
        let classes = match rest.first_chunk::<BLOCK>() {
            Some(block) => classify(block),
            None => {
                let mut block = [b' '; BLOCK];
                block[..rest.len()].copy_from_slice(rest);
                classify(&block)
            }
        };
        // Escapes would need decoding and checking: the serde_json read's.
        if classes.backslash != 0 {
            self.refused = true;
            return;
        }
        let Some(strings) = self.strings.advance(classes.quote, 0) else {
            self.refused = true;
            return;
        };
        if classes.control & strings.inside != 0 {
            self.refused = true;
            return;
        }
        self.at = start;
        self.next_block = start + BLOCK;
        self.bits =
            strings.quotes | ((classes.open | classes.close | classes.separator) & !strings.inside);
    }
}

struct Walk<'a> {
    text: &'a [u8],
    tokens: Tokens<'a>,
    peeked: Option<usize>,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Walk<'a> {
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
        // Inside a string there are no tokens: the next is its end.
        let close = self.next()?;
        Some((open + 1, close))
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
        let first = self.skip_ws(open + 1)?;
        if self.byte(first) == b']' {
            return (self.next()? == first).then_some(first + 1);
        }
        let mut from = open + 1;
        loop {
            let (_, end) = self.value(from, depth)?;
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

    /// A head field's value: a string is kept, a plain value reads as
    /// absent; an object or array is the serde_json read's to check.
    fn lenient(&self, text: &'a str, start: usize, end: usize) -> Option<Lenient<'a>> {
        match self.byte(start) {
            b'"' => Some(Lenient(Some(Cow::Borrowed(text.get(start + 1..end - 1)?)))),
            b'{' | b'[' => None,
            _ => Some(Lenient(None)),
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
            b'[' => return None,
            _ => return self.value(from, 1),
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
