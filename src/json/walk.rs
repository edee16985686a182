//! A JSON text walked by its structural characters alone ([`super::classify`]):
//! the bytes inside strings are never looked at one by one. Reading every
//! record with serde_json cost more than inflating the log.
//!
//! A walk checks what serde_json checks (syntax, no control character in a
//! string, no duplicate key in the objects it keeps keys of; the text is
//! UTF-8 already) or gives up: on what it does not read itself (a float, a
//! number beyond 64 bits, an escape where it would have to decode one),
//! nesting past [`MAX_DEPTH`], a duplicate key, anything unexpected. The
//! caller then asks serde_json, which names what is wrong: a walk never
//! accepts what serde_json rejects, and reads what it accepts as serde_json
//! does (fuzzed, and tested on every record of the corpus).

use std::borrow::Cow;
use std::cell::RefCell;

use super::classify::{plain_tokens, Tokens, BLOCK};
use super::find::{Found, Paths, Place, Seek};
use super::strict::{Insert, ObjectKeys};
use super::value::BorrowedValue;
use super::{key_hash, MAX_DEPTH};

impl<'a> BorrowedValue<'a> {
    /// Parses a member of an object (a value at level 2), checked as
    /// [`super::check`] checks: no duplicate key, nesting within
    /// [`MAX_DEPTH`]. Positions in errors count from the value.
    ///
    /// A value without escapes is walked; the rest, and every problem,
    /// read by serde_json.
    pub fn parse(text: &'a str) -> Result<BorrowedValue<'a>, serde_json::Error> {
        match value(text) {
            Some(value) => Ok(value),
            None => Self::parse_by_serde(text),
        }
    }
}

impl<'a> BorrowedValue<'a> {
    /// Parses a whole record (a value at level 1), checked as
    /// [`super::check`] checks it: what it accepts, `check` accepts, and
    /// serde_json reads into the `Value` [`BorrowedValue::to_value`] gives.
    pub fn parse_record(text: &'a str) -> Result<BorrowedValue<'a>, serde_json::Error> {
        let walked = with_tokens(text.as_bytes(), |mut walk| {
            let (value, _, after) = walk.build(0, text, 1)?;
            (after == walk.text.len()).then_some(value)
        });
        match walked {
            Some(value) => Ok(value),
            None => Self::parse_by_serde_at(text, 1),
        }
    }
}

/// `text` as a value, walked; `None` when serde_json must read it.
pub(crate) fn value(text: &str) -> Option<BorrowedValue<'_>> {
    with_tokens(text.as_bytes(), |mut walk| {
        let (value, _, after) = walk.build(0, text, 2)?;
        (after == walk.text.len()).then_some(value)
    })
}

/// Every backslash of `text` (one with escapes, inside its strings)
/// starts an escape serde_json accepts where it skips a string: one of
/// `"\/bfnrt`, or `u` and four hex digits. (The strings a walk decodes it
/// has serde_json check.)
pub(crate) fn escapes_are_valid(text: &[u8]) -> bool {
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

/// The positions of a text's structural characters outside strings and
/// of its opening quotes, in order, from their masks.
struct Positions<'m> {
    masks: &'m [u64],
    block: usize,
    bits: u64,
}

impl<'m> Positions<'m> {
    fn new(masks: &'m [u64]) -> Positions<'m> {
        Positions {
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

/// The keys of the objects being walked, as places in the text.
type KeyPlaces = Vec<(u64, (u32, u32))>;

/// What a walk writes as it goes: kept per thread, not made per text.
#[derive(Default)]
struct Scratch {
    /// The token masks of the text being walked.
    masks: Vec<u64>,
    keys: KeyPlaces,
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

/// Runs `walk` over the tokens of `text`, classified here; `None` when the
/// text has escapes or a control character in a string.
pub(crate) fn with_tokens<'a, R>(
    text: &'a [u8],
    walk: impl for<'m> FnOnce(Walk<'a, 'm>) -> Option<R>,
) -> Option<R> {
    with_scratch(|scratch| {
        if !plain_tokens(text, &mut scratch.masks) {
            return None;
        }
        let tokens = Tokens {
            masks: &scratch.masks,
            escapes: false,
        };
        walk(Walk::new(text, tokens, &mut scratch.keys))
    })
}

/// Runs `walk` over `text` with its `tokens`, found already.
pub(crate) fn with_found_tokens<'a, R>(
    text: &'a [u8],
    tokens: Tokens<'_>,
    walk: impl for<'m> FnOnce(Walk<'a, 'm>) -> Option<R>,
) -> Option<R> {
    with_scratch(|scratch| walk(Walk::new(text, tokens, &mut scratch.keys)))
}

/// A walk over one text's tokens. Every value is read up to the token
/// after it, which the reader of the value then looks at: no token is
/// looked at twice, and a string's end is found from that token (its
/// closing quote is the last byte but whitespace before it).
pub(crate) struct Walk<'a, 'm> {
    pub(crate) text: &'a [u8],
    positions: Positions<'m>,
    keys: &'m mut KeyPlaces,
    /// The text has escapes (in its strings): keys and strings decoded
    /// are looked at for them.
    escapes: bool,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// A value's range and where the token after it is (the text's length
/// when there is none).
pub(crate) type Read = (usize, usize, usize);

impl<'a, 'm> Walk<'a, 'm> {
    fn new(text: &'a [u8], tokens: Tokens<'m>, keys: &'m mut KeyPlaces) -> Self {
        keys.clear();
        Walk {
            text,
            positions: Positions::new(tokens.masks),
            keys,
            escapes: tokens.escapes,
        }
    }
}

impl<'a> Walk<'a, '_> {
    /// The next token's position.
    #[inline(always)]
    pub(crate) fn next(&mut self) -> Option<usize> {
        self.positions.next()
    }

    /// The token after a value: its position, or the text's length when
    /// the text ends (which only the outermost value may do).
    #[inline(always)]
    fn after(&mut self) -> usize {
        self.positions.next().unwrap_or(self.text.len())
    }

    #[inline(always)]
    pub(crate) fn byte(&self, at: usize) -> u8 {
        self.text.get(at).copied().unwrap_or(0)
    }

    #[inline(always)]
    pub(crate) fn ws_only(&self, from: usize, to: usize) -> bool {
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
    pub(crate) fn start_of(&self, from: usize) -> usize {
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

    /// The string `text[start..end]` (its quotes included), decoded when
    /// it has an escape; `None` when it is not a string.
    pub(crate) fn string_at(
        &self,
        text: &'a str,
        start: usize,
        end: usize,
    ) -> Option<Cow<'a, str>> {
        if self.byte(start) != b'"' {
            return None;
        }
        if self.escapes && self.has_escape(start, end) {
            return serde_json::from_str(text.get(start..end)?)
                .ok()
                .map(Cow::Owned);
        }
        text.get(start + 1..end - 1).map(Cow::Borrowed)
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

    /// The keys of an object starting to be walked, to [`Walk::key`].
    pub(crate) fn object_keys(&self) -> ObjectKeys {
        ObjectKeys::at(self.keys)
    }

    /// The hash of the key at `key` of the object `keys` are of; `None`
    /// on a duplicate (serde_json names it) or past the keys kept.
    #[inline(always)]
    pub(crate) fn key(&mut self, keys: &mut ObjectKeys, key: (usize, usize)) -> Option<u64> {
        let text = self.text;
        let hash = key_hash(text.get(key.0..key.1)?);
        let place = (u32::try_from(key.0).ok()?, u32::try_from(key.1).ok()?);
        let same = |a: &(u32, u32), b: &(u32, u32)| {
            text.get(a.0 as usize..a.1 as usize) == text.get(b.0 as usize..b.1 as usize)
        };
        (keys.insert(self.keys, hash, place, same) == Insert::New).then_some(hash)
    }

    /// The members of the object whose `{` at `open` was the last token
    /// taken; the position after its `}`. `member` reads each value from
    /// where it may start (after the colon), up to the token after it.
    /// A key with an escape is serde_json's to read.
    #[inline(always)]
    pub(crate) fn members(
        &mut self,
        open: usize,
        mut member: impl FnMut(&mut Self, (usize, usize), usize) -> Option<(usize, usize)>,
    ) -> Option<usize> {
        let first = self.start_of(open + 1);
        if self.byte(first) == b'}' {
            return (self.next()? == first).then_some(first + 1);
        }
        let mut from = open + 1;
        loop {
            let (key, value) = self.key_and_colon(from)?;
            let (_, after) = member(self, key, value)?;
            match self.byte(after) {
                b',' => from = after + 1,
                b'}' => return Some(after + 1),
                _ => return None,
            }
        }
    }

    /// The key of an object's member (the next token: a string, after
    /// whitespace from `from`) and its colon: the key's place between its
    /// quotes, and where its value may start. A key with an escape is
    /// serde_json's to read.
    #[inline(always)]
    fn key_and_colon(&mut self, from: usize) -> Option<((usize, usize), usize)> {
        let at = self.next()?;
        if self.byte(at) != b'"' || !self.ws_only(from, at) {
            return None;
        }
        let colon = self.next()?;
        let close = self.closing_quote(at, colon)?;
        if self.byte(colon) != b':' || (self.escapes && self.has_escape(at + 1, close)) {
            return None;
        }
        Some(((at + 1, close), colon + 1))
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
    pub(crate) fn after_container(&mut self, start: usize, end: usize) -> Option<Read> {
        let after = self.after();
        self.ws_only(end, after).then_some((start, end, after))
    }

    /// One value starting after whitespace at `from`, checked, at nesting
    /// level `depth`. A string is read here, the rest by
    /// [`Walk::value_other`]: most values are strings, and a call per
    /// value cost more than the string.
    #[inline(always)]
    pub(crate) fn value(&mut self, from: usize, depth: usize) -> Option<Read> {
        let start = self.start_of(from);
        match self.byte(start) {
            b'"' => self.string(start),
            _ => self.value_other(start, depth),
        }
    }

    /// [`Walk::value`] of a value at `start` that is not a string.
    fn value_other(&mut self, start: usize, depth: usize) -> Option<Read> {
        match self.byte(start) {
            b'{' | b'[' => self.container(start, depth),
            _ => self.scalar(start),
        }
    }

    /// [`Walk::value`] of the object or array at `start`: the checks of
    /// [`Walk::members`] and [`Walk::elements`], in one loop over its
    /// tokens, the kinds of the containers open in the bits of a `u128`.
    /// (Most of a record's nested values are read only to be checked;
    /// a call and a closure per member cost more than the checks.)
    fn container(&mut self, start: usize, depth: usize) -> Option<Read> {
        // Bit 0: the innermost container open is an array; bit 1, the one
        // around it; and so on.
        let mut arrays: u128 = 0;
        let mut open = 0;
        // The next value starts at `from` or after whitespace there.
        let mut from = start;
        loop {
            let value = self.start_of(from);
            let mut after = match self.byte(value) {
                b'"' if open > 0 => self.string(value)?.2,
                bracket @ (b'{' | b'[') => {
                    if self.next()? != value || depth + open >= MAX_DEPTH {
                        return None;
                    }
                    let array = bracket == b'[';
                    arrays = arrays << 1 | u128::from(array);
                    open += 1;
                    let first = self.start_of(value + 1);
                    if self.byte(first) != if array { b']' } else { b'}' } {
                        from = self.item(value + 1, array)?;
                        continue;
                    }
                    // Empty: its closing bracket, which the loop below
                    // closes it at.
                    if self.next()? != first {
                        return None;
                    }
                    first
                }
                _ if open > 0 => self.scalar(value)?.2,
                _ => return None,
            };
            // `after`: the token after a value of the innermost container
            // (or, for an empty one, its closing bracket).
            loop {
                let array = arrays & 1 == 1;
                match self.byte(after) {
                    b',' => {
                        from = self.item(after + 1, array)?;
                        break;
                    }
                    b']' if array => {}
                    b'}' if !array => {}
                    _ => return None,
                }
                arrays >>= 1;
                open -= 1;
                let (_, end, next) = self.after_container(start, after + 1)?;
                if open == 0 {
                    return Some((start, end, next));
                }
                after = next;
            }
        }
    }

    /// Where the value of an item of a container starts (after whitespace
    /// there): in an array, at `from`; in an object, after its key and
    /// colon ([`Walk::key_and_colon`]).
    #[inline(always)]
    fn item(&mut self, from: usize, array: bool) -> Option<usize> {
        if array {
            return Some(from);
        }
        self.key_and_colon(from).map(|(_, value)| value)
    }

    /// The string whose opening quote at `start` is the next token, built.
    #[inline(always)]
    fn build_string(
        &mut self,
        start: usize,
        text: &'a str,
    ) -> Option<(BorrowedValue<'a>, usize, usize)> {
        let (_, end, after) = self.string(start)?;
        let text = text.get(start + 1..end - 1)?;
        Some((BorrowedValue::Str(Cow::Borrowed(text)), end, after))
    }

    /// One value starting after whitespace at `from`, at nesting level
    /// `depth`, built; its end and the token after it. A string is built
    /// here, the rest by [`Walk::build_other`]: most values are strings,
    /// and a call per value, its result returned through memory, cost more
    /// than the string.
    #[inline(always)]
    pub(crate) fn build(
        &mut self,
        from: usize,
        text: &'a str,
        depth: usize,
    ) -> Option<(BorrowedValue<'a>, usize, usize)> {
        let start = self.start_of(from);
        match self.byte(start) {
            b'"' => self.build_string(start, text),
            _ => self.build_other(start, text, depth),
        }
    }

    /// [`Walk::build`] of a value at `start` that is not a string.
    fn build_other(
        &mut self,
        start: usize,
        text: &'a str,
        depth: usize,
    ) -> Option<(BorrowedValue<'a>, usize, usize)> {
        match self.byte(start) {
            b'{' => {
                if self.next()? != start || depth >= MAX_DEPTH {
                    return None;
                }
                let mut keys = self.object_keys();
                // CloudTrail objects have a handful of members: one allocation.
                let mut members = Vec::with_capacity(8);
                let end = self.members(start, |walk, (k0, k1), from| {
                    walk.key(&mut keys, (k0, k1))?;
                    let (value, end, after) = walk.build(from, text, depth + 1)?;
                    members.push((Cow::Borrowed(text.get(k0..k1)?), value));
                    Some((end, after))
                })?;
                let (_, end, after) = self.after_container(start, end)?;
                Some((BorrowedValue::Object(members), end, after))
            }
            b'[' => {
                if self.next()? != start || depth >= MAX_DEPTH {
                    return None;
                }
                let mut items = Vec::new();
                let end = self.elements(start, |walk, from| {
                    let (item, end, after) = walk.build(from, text, depth + 1)?;
                    items.push(item);
                    Some((end, after))
                })?;
                let (_, end, after) = self.after_container(start, end)?;
                Some((BorrowedValue::Array(items), end, after))
            }
            _ => {
                let (start, end, after) = self.scalar(start)?;
                Some((scalar(text, start, end)?, end, after))
            }
        }
    }
}

impl<'a> Walk<'a, '_> {
    /// Walks the value at `from` (at nesting level `depth`) as
    /// [`Walk::find`] does, every path of `paths` sought, their places
    /// noted in `found`; its end and the token after it.
    pub(crate) fn find_all(
        &mut self,
        from: usize,
        text: &'a str,
        depth: usize,
        paths: &Paths,
        found: &mut Found,
    ) -> Option<(usize, usize)> {
        let mut seek = Seek::new(paths, found, depth);
        self.find(from, text, depth, &mut seek, paths.all())
    }

    /// [`Walk::build`] without the tree: the value at `from`, at nesting
    /// level `depth`, checked as `build` checks it (`None` where it gives
    /// up), the places of the `wanted` paths of `seek` noted as it goes;
    /// its end and the token after it.
    #[inline(always)]
    pub(crate) fn find(
        &mut self,
        from: usize,
        text: &'a str,
        depth: usize,
        seek: &mut Seek<'_>,
        wanted: u32,
    ) -> Option<(usize, usize)> {
        let start = self.start_of(from);
        match self.byte(start) {
            b'"' => self.string(start).map(|(_, end, after)| (end, after)),
            _ => self.find_other(start, text, depth, seek, wanted),
        }
    }

    /// [`Walk::find`] of a value at `start` that is not a string.
    fn find_other(
        &mut self,
        start: usize,
        text: &'a str,
        depth: usize,
        seek: &mut Seek<'_>,
        wanted: u32,
    ) -> Option<(usize, usize)> {
        let open = self.byte(start);
        if open != b'{' && open != b'[' {
            let (start, end, after) = self.scalar(start)?;
            scalar(text, start, end)?;
            return Some((end, after));
        }
        if self.next()? != start || depth >= MAX_DEPTH {
            return None;
        }
        let end = if open == b'{' {
            let mut keys = self.object_keys();
            let level = depth - seek.depth;
            self.members(start, |walk, (k0, k1), from| {
                let hash = walk.key(&mut keys, (k0, k1))?;
                let here = match wanted {
                    0 => 0,
                    _ => seek.paths.step(wanted, level, hash, walk.text.get(k0..k1)?),
                };
                let ending = seek.paths.ending_at(here, level);
                let value = walk.start_of(from);
                let read = walk.find(value, text, depth + 1, seek, here & !ending)?;
                if ending != 0 {
                    let (v0, v1) = (u32::try_from(value).ok()?, u32::try_from(read.0).ok()?);
                    let place = match walk.byte(value) {
                        b'{' | b'[' => Place::Unread,
                        b'"' if !walk.escapes => Place::Str(v0 + 1, v1 - 1),
                        _ => Place::At(v0, v1),
                    };
                    seek.found.set(ending, place);
                }
                Some(read)
            })?
        } else {
            // A dotted path reads every element of an array it crosses.
            seek.found.set(wanted, Place::Unread);
            self.elements(start, |walk, from| {
                walk.find(from, text, depth + 1, seek, 0)
            })?
        };
        let (_, end, after) = self.after_container(start, end)?;
        Some((end, after))
    }
}

/// The scalar `text[start..end]` (checked by [`is_scalar`]), as serde_json
/// reads it; `None` for what serde_json must read.
fn scalar(text: &str, start: usize, end: usize) -> Option<BorrowedValue<'_>> {
    Some(match text.as_bytes().get(start..end)? {
        b"true" => BorrowedValue::Bool(true),
        b"false" => BorrowedValue::Bool(false),
        b"null" => BorrowedValue::Null,
        // Floats are serde_json's to read (its rounding), and so is `-0`,
        // which it reads as the float -0.0 (found by the fuzzer).
        number => {
            let number = text.get(start..end).filter(|_| {
                !number.starts_with(b"-0")
                    && !number.iter().any(|b| matches!(b, b'.' | b'e' | b'E'))
            })?;
            match number.parse::<i64>() {
                Ok(int) => BorrowedValue::Int(int),
                Err(_) => BorrowedValue::UInt(number.parse::<u64>().ok()?),
            }
        }
    })
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
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        for (text, ok) in [
            ("0", true),
            ("-0", true),
            ("12", true),
            ("1.5", true),
            ("1e5", true),
            ("1E-5", true),
            ("-1.25e+10", true),
            ("", false),
            ("-", false),
            ("00", false),
            ("1.", false),
            ("1e", false),
            ("1e+", false),
            ("1.e5", false),
            ("0x1", false),
            ("1 ", false),
        ] {
            assert_eq!(is_number(text.as_bytes()), ok, "{text:?}");
        }
    }
}
