//! Where the strings and structural characters of JSON text are, 64 bytes
//! at a time.
//!
//! Reading a record byte by byte (or a string at a time with `memchr`, as
//! the splitter once did) costs more than inflating it: CloudTrail records
//! are mostly short strings. Here a block of 64 bytes becomes a few 64-bit
//! masks, one bit per byte (AVX2 or SSE2 on x86_64, NEON on arm64, plain
//! Rust elsewhere),
//! and the bits of a block's quotes give the bytes inside strings without
//! looking at them one by one (the method of simdjson, Langdale and Lemire
//! 2019). A reader of a stream of objects finds where one ends and its
//! structural characters in one pass ([`object_tokens`]), which
//! the walk (`json/walk.rs`) then walks; an object it cannot find that way is
//! followed by its brackets alone ([`brackets`]), and a value read on its
//! own is classified with [`plain_tokens`].

/// Bytes per block: one bit of a `u64` each.
pub const BLOCK: usize = 64;

/// One block's bytes of each kind, bit `i` for byte `i`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Classes {
    pub quote: u64,
    pub backslash: u64,
    /// `{` and `[`.
    pub open: u64,
    /// `}` and `]`.
    pub close: u64,
    /// `:` and `,`.
    pub separator: u64,
    /// Bytes below 0x20 (control characters, whitespace but the space).
    pub control: u64,
}

/// Runs `$with(classify, $args...)` with the fastest classifier this CPU
/// has, compiled for that CPU, so that classifying inlines into the loop
/// (a call per block, and the switch between vector widths it costs, was
/// most of the time).
macro_rules! dispatch {
    ($with:ident($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2, checked just above.
                unsafe { avx2::$with($($arg),*) }
            } else {
                // SAFETY: SSE2 is part of the x86_64 baseline.
                unsafe { sse2::$with($($arg),*) }
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            neon::$with($($arg),*)
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            $with(classify_bytes, $($arg),*)
        }
    }};
}

/// In a module of one CPU's `classify`: the whole-buffer readers with it,
/// compiled for that CPU (`$feature`), for [`dispatch`] to call.
macro_rules! readers {
    ($(#[$feature:meta])?) => {
        $(#[$feature])?
        pub fn brackets_with(
            buf: &[u8],
            strings: &mut super::StringState,
            bracket: impl FnMut(usize, u8) -> bool,
        ) -> super::Brackets {
            super::brackets_with(|block| classify(block), buf, strings, bracket)
        }

        $(#[$feature])?
        pub fn plain_tokens_with(text: &[u8], out: &mut Vec<u64>) -> bool {
            super::plain_tokens_with(|block| classify(block), text, out)
        }

        $(#[$feature])?
        pub fn object_tokens_with(buf: &[u8], out: &mut Vec<u64>) -> Option<(usize, bool)> {
            super::object_tokens_with(|block| classify(block), buf, out)
        }

        #[cfg(test)]
        $(#[$feature])?
        pub fn classify_with(block: &[u8; BLOCK]) -> Classes {
            classify(block)
        }
    };
}

/// Classifies one block, the CPU checked on every call: the tests'. The
/// readers go through [`brackets`] and [`plain_tokens`], which check once
/// per buffer.
#[cfg(test)]
fn classify(block: &[u8; BLOCK]) -> Classes {
    dispatch!(classify_with(block))
}

/// (The CPUs without vector code classify a byte at a time.)
#[cfg(all(test, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
#[inline(always)]
fn classify_with(classify: impl Fn(&[u8; BLOCK]) -> Classes, block: &[u8; BLOCK]) -> Classes {
    classify(block)
}

/// How [`brackets`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Brackets {
    /// Every whole block of the buffer was read: this many bytes.
    Through(usize),
    /// The callback stopped at the bracket at this position.
    Stopped(usize),
    /// The block starting here has a backslash outside a string (which
    /// escapes nothing): the caller reads it another way. The blocks
    /// before it were read.
    Stray(usize),
}

/// Reads the whole 64-byte blocks of `buf` from inside a value, `strings`
/// carried from block to block, and hands each bracket outside strings to
/// `bracket(position, byte)` in order, until it returns false.
pub fn brackets(
    buf: &[u8],
    strings: &mut StringState,
    bracket: impl FnMut(usize, u8) -> bool,
) -> Brackets {
    dispatch!(brackets_with(buf, strings, bracket))
}

#[inline(always)]
fn brackets_with(
    classify: impl Fn(&[u8; BLOCK]) -> Classes,
    buf: &[u8],
    strings: &mut StringState,
    mut bracket: impl FnMut(usize, u8) -> bool,
) -> Brackets {
    let mut at = 0;
    while let Some(block) = buf.get(at..).and_then(|rest| rest.first_chunk::<BLOCK>()) {
        let classes = classify(block);
        let mut state = *strings;
        let Some(found) = state.advance(classes.quote, classes.backslash) else {
            return Brackets::Stray(at);
        };
        let mut bits = (classes.open | classes.close) & !found.inside;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if !bracket(at + i, block[i]) {
                return Brackets::Stopped(at + i);
            }
        }
        *strings = state;
        at += BLOCK;
    }
    Brackets::Through(at)
}

/// The tokens of `text`, one mask per 64-byte block into `out` (the last
/// block padded with spaces): every opening quote and every structural
/// character outside strings. (A closing quote is no token: without
/// escapes, it is the last byte but whitespace before the next token.)
/// False, with `out` unfinished, when the text has a
/// backslash or a control character inside a string: a text that needs
/// decoding or is not valid, for a slower reader to decide.
pub fn plain_tokens(text: &[u8], out: &mut Vec<u64>) -> bool {
    dispatch!(plain_tokens_with(text, out))
}

#[inline(always)]
fn plain_tokens_with(
    classify: impl Fn(&[u8; BLOCK]) -> Classes,
    text: &[u8],
    out: &mut Vec<u64>,
) -> bool {
    out.clear();
    let mut strings = StringState::default();
    let mut one = |block: &[u8; BLOCK]| {
        let classes = classify(block);
        let Some(found) = strings.advance(classes.quote, 0) else {
            return false;
        };
        if classes.backslash != 0 || classes.control & found.inside != 0 {
            return false;
        }
        let opening = found.quotes & found.inside;
        out.push(opening | ((classes.open | classes.close | classes.separator) & !found.inside));
        true
    };
    let mut blocks = text.chunks_exact(BLOCK);
    for block in &mut blocks {
        if !block.try_into().is_ok_and(&mut one) {
            return false;
        }
    }
    let rest = blocks.remainder();
    if rest.is_empty() {
        return true;
    }
    let mut last = [b' '; BLOCK];
    last[..rest.len()].copy_from_slice(rest);
    one(&last)
}

/// An object's tokens ([`object_tokens`]), and whether it has escapes.
#[derive(Debug, Clone, Copy)]
pub struct Tokens<'a> {
    pub masks: &'a [u64],
    pub escapes: bool,
}

/// The object at the start of `buf` (its `{` the first byte): its length,
/// whether it has escapes, and its tokens into `out` as [`plain_tokens`]
/// gives them for that text (no bit past its end), escaped quotes not
/// among them. One pass finds where a record ends and the tokens it is
/// walked by, where the splitter and then the walk each went through it.
/// `None` when the caller must read it another way: it does not end in
/// the whole blocks of `buf`, it has a control character in a string or a
/// backslash outside one, a closing bracket does not match its opening
/// one, or it nests deeper than [`super::MAX_DEPTH`] levels.
pub fn object_tokens(buf: &[u8], out: &mut Vec<u64>) -> Option<(usize, bool)> {
    dispatch!(object_tokens_with(buf, out))
}

// A bit per open container: the limit fits in `u128`.
const _: () = assert!(super::MAX_DEPTH < u128::BITS as usize);

#[inline(always)]
fn object_tokens_with(
    classify: impl Fn(&[u8; BLOCK]) -> Classes,
    buf: &[u8],
    out: &mut Vec<u64>,
) -> Option<(usize, bool)> {
    out.clear();
    if buf.first() != Some(&b'{') {
        return None;
    }
    let mut escapes = 0u64;
    let mut strings = StringState::default();
    // Bit i: the container i levels in is an array.
    let mut arrays: u128 = 0;
    let mut depth = 0u32;
    let mut at = 0;
    while let Some(block) = buf.get(at..).and_then(|rest| rest.first_chunk::<BLOCK>()) {
        let classes = classify(block);
        let found = strings.advance(classes.quote, classes.backslash)?;
        let bad = classes.control & found.inside;
        let outside = !found.inside;
        let tokens = (found.quotes & found.inside)
            | ((classes.open | classes.close | classes.separator) & outside);
        let mut brackets = (classes.open | classes.close) & outside;
        while brackets != 0 {
            let i = brackets.trailing_zeros() as usize;
            brackets &= brackets - 1;
            let byte = block[i];
            if classes.open >> i & 1 == 1 {
                if depth as usize >= super::MAX_DEPTH {
                    return None;
                }
                arrays = arrays << 1 | u128::from(byte == b'[');
                depth += 1;
                continue;
            }
            if depth == 0 || (arrays & 1 == 1) != (byte == b']') {
                return None;
            }
            arrays >>= 1;
            depth -= 1;
            if depth == 0 {
                // Bits 0..=i: the record's.
                let kept = u64::MAX >> (BLOCK - 1 - i);
                if bad & kept != 0 {
                    return None;
                }
                out.push(tokens & kept);
                return Some((at + i + 1, (escapes | classes.backslash & kept) != 0));
            }
        }
        if bad != 0 {
            return None;
        }
        escapes |= classes.backslash;
        out.push(tokens);
        at += BLOCK;
    }
    None
}

/// The same as `classify`, a byte at a time: the reference the vector
/// version is tested against, and the version for other CPUs.
pub fn classify_bytes(block: &[u8; BLOCK]) -> Classes {
    let mut classes = Classes::default();
    for (i, &b) in block.iter().enumerate() {
        let bit = 1u64 << i;
        match b {
            b'"' => classes.quote |= bit,
            b'\\' => classes.backslash |= bit,
            b'{' | b'[' => classes.open |= bit,
            b'}' | b']' => classes.close |= bit,
            b':' | b',' => classes.separator |= bit,
            0..=0x1f => classes.control |= bit,
            _ => {}
        }
    }
    classes
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    //! 16 bytes at a time: SSE2 is part of every x86_64 CPU.
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    use super::{Classes, BLOCK};

    /// 16 bits, one per byte of `v` equal to `byte`.
    #[target_feature(enable = "sse2")]
    fn eq(v: __m128i, byte: u8) -> u64 {
        u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(byte as i8))) as u16)
    }

    #[target_feature(enable = "sse2")]
    pub fn classify(block: &[u8; BLOCK]) -> Classes {
        let mut classes = Classes::default();
        for (lane, bytes) in block.chunks_exact(16).enumerate() {
            let shift = lane * 16;
            // SAFETY: `bytes` is 16 bytes long; the load is unaligned.
            let v = unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) };
            // `[` and `{` differ in one bit (0x20), as do `]` and `}`.
            let folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
            // Signed compares: bytes of 0x80 and up are negative, so the
            // second test leaves them out.
            let below_space = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
            let non_negative = _mm_cmplt_epi8(_mm_set1_epi8(-1), v);
            let control = u64::from(_mm_movemask_epi8(below_space) as u16)
                & u64::from(_mm_movemask_epi8(non_negative) as u16);
            classes.quote |= eq(v, b'"') << shift;
            classes.backslash |= eq(v, b'\\') << shift;
            classes.open |= eq(folded, b'{') << shift;
            classes.close |= eq(folded, b'}') << shift;
            classes.separator |= (eq(v, b':') | eq(v, b',')) << shift;
            classes.control |= control << shift;
        }
        classes
    }

    readers!(#[target_feature(enable = "sse2")]);
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! 32 bytes at a time, on the CPUs that have AVX2 (every x86_64 Lambda
    //! host; checked at run time all the same).
    use std::arch::x86_64::{
        __m256i, _mm256_and_si256, _mm256_cmpeq_epi8, _mm256_cmpgt_epi8, _mm256_loadu_si256,
        _mm256_movemask_epi8, _mm256_or_si256, _mm256_set1_epi8,
    };

    use super::{Classes, BLOCK};

    /// 32 bits, one per byte of `v` for which `mask` is set.
    #[target_feature(enable = "avx2")]
    fn bits(mask: __m256i) -> u64 {
        u64::from(_mm256_movemask_epi8(mask) as u32)
    }

    #[target_feature(enable = "avx2")]
    fn eq(v: __m256i, byte: u8) -> __m256i {
        _mm256_cmpeq_epi8(v, _mm256_set1_epi8(byte as i8))
    }

    #[target_feature(enable = "avx2")]
    pub fn classify(block: &[u8; BLOCK]) -> Classes {
        let mut classes = Classes::default();
        for (half, bytes) in block.chunks_exact(32).enumerate() {
            let shift = half * 32;
            // SAFETY: `bytes` is 32 bytes long; the load is unaligned.
            let v = unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) };
            let folded = _mm256_or_si256(v, _mm256_set1_epi8(0x20));
            let control = _mm256_and_si256(
                _mm256_cmpgt_epi8(_mm256_set1_epi8(0x20), v),
                _mm256_cmpgt_epi8(v, _mm256_set1_epi8(-1)),
            );
            classes.quote |= bits(eq(v, b'"')) << shift;
            classes.backslash |= bits(eq(v, b'\\')) << shift;
            classes.open |= bits(eq(folded, b'{')) << shift;
            classes.close |= bits(eq(folded, b'}')) << shift;
            classes.separator |= bits(_mm256_or_si256(eq(v, b':'), eq(v, b','))) << shift;
            classes.control |= bits(control) << shift;
        }
        classes
    }

    readers!(#[target_feature(enable = "avx2")]);
}

#[cfg(target_arch = "aarch64")]
mod neon {
    //! 16 bytes at a time on arm64 (Graviton, the template's default):
    //! NEON is part of every aarch64 CPU. NEON has no instruction that
    //! gathers one bit per byte; each byte keeps the bit of its place in
    //! an 8-byte group, and three pairwise additions fold 64 bytes into
    //! 64 bits (simdjson's way).
    use std::arch::aarch64::{
        uint8x16_t, vandq_u8, vceqq_u8, vcltq_u8, vdupq_n_u8, vgetq_lane_u64, vld1q_u8, vorrq_u8,
        vpaddq_u8, vreinterpretq_u64_u8,
    };

    use super::{Classes, BLOCK};

    /// The 64 bits of four 16-byte masks (each byte 0 or 0xFF), in order.
    #[inline(always)]
    fn bits(masks: [uint8x16_t; 4]) -> u64 {
        const PLACES: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
        // SAFETY: NEON is part of every aarch64 CPU; `PLACES` is 16 bytes.
        unsafe {
            let places = vld1q_u8(PLACES.as_ptr());
            let [a, b, c, d] = masks.map(|mask| vandq_u8(mask, places));
            let ab = vpaddq_u8(a, b);
            let cd = vpaddq_u8(c, d);
            let abcd = vpaddq_u8(ab, cd);
            let folded = vpaddq_u8(abcd, abcd);
            vgetq_lane_u64::<0>(vreinterpretq_u64_u8(folded))
        }
    }

    #[inline(always)]
    pub fn classify(block: &[u8; BLOCK]) -> Classes {
        // SAFETY: NEON is part of every aarch64 CPU; each load reads 16
        // bytes inside the 64 of `block`.
        unsafe {
            let lanes: [uint8x16_t; 4] = [0, 16, 32, 48].map(|at| vld1q_u8(block.as_ptr().add(at)));
            let eq = |byte: u8| lanes.map(|v| vceqq_u8(v, vdupq_n_u8(byte)));
            // `[` and `{` differ in one bit (0x20), as do `]` and `}`.
            let folded = lanes.map(|v| vorrq_u8(v, vdupq_n_u8(0x20)));
            let folded_eq = |byte: u8| folded.map(|v| vceqq_u8(v, vdupq_n_u8(byte)));
            let (colon, comma) = (eq(b':'), eq(b','));
            let separator = [0, 1, 2, 3].map(|i| vorrq_u8(colon[i], comma[i]));
            // Unsigned compare: below 0x20 is a control character.
            let control = lanes.map(|v| vcltq_u8(v, vdupq_n_u8(0x20)));
            Classes {
                quote: bits(eq(b'"')),
                backslash: bits(eq(b'\\')),
                open: bits(folded_eq(b'{')),
                close: bits(folded_eq(b'}')),
                separator: bits(separator),
                control: bits(control),
            }
        }
    }

    readers!();
}

/// Each bit set to the XOR of itself and every bit below it: from the
/// quotes, the bytes from an opening quote up to (not including) its
/// closing one.
fn prefix_xor(mut bits: u64) -> u64 {
    bits ^= bits << 1;
    bits ^= bits << 2;
    bits ^= bits << 4;
    bits ^= bits << 8;
    bits ^= bits << 16;
    bits ^= bits << 32;
    bits
}

/// What one block leaves for the next: inside a string or not, and whether
/// its last byte was a backslash that escapes the next block's first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StringState {
    pub in_string: bool,
    pub escaped: bool,
}

/// One block's strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strings {
    /// The quotes that open or close a string (not escaped ones).
    pub quotes: u64,
    /// The bytes inside strings, each opening quote included, each closing
    /// one not.
    pub inside: u64,
}

impl StringState {
    /// The strings of a block, given its quotes and backslashes; updates the
    /// state for the next block.
    ///
    /// A backslash outside a string escapes nothing in JSON (it is an
    /// error); these bits would take it for an escape. `None` then, with
    /// the state unchanged: the caller reads that block another way.
    pub fn advance(&mut self, quote: u64, backslash: u64) -> Option<Strings> {
        const EVEN: u64 = 0x5555_5555_5555_5555;
        let carried = u64::from(self.escaped);
        // simdjson's find_escaped: a run of backslashes escapes the byte
        // after it when the run is odd.
        let backslash = backslash & !carried;
        let follows_escape = (backslash << 1) | carried;
        let odd_starts = backslash & !EVEN & !follows_escape;
        let (sequences, overflow) = odd_starts.overflowing_add(backslash);
        let escaped = (EVEN ^ (sequences << 1)) & follows_escape;
        let quotes = quote & !escaped;
        let mut inside = prefix_xor(quotes);
        if self.in_string {
            inside = !inside;
        }
        if backslash & !inside != 0 {
            return None;
        }
        self.in_string = inside >> 63 == 1;
        self.escaped = overflow;
        Some(Strings { quotes, inside })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_of(text: &[u8]) -> [u8; BLOCK] {
        let mut block = [b' '; BLOCK];
        block[..text.len()].copy_from_slice(text);
        block
    }

    /// The bits of each kind agree with the byte-at-a-time reading, for
    /// every byte value in every lane position.
    #[test]
    fn vector_and_bytes_agree() {
        for start in 0..=255u8 {
            let mut block = [0u8; BLOCK];
            for (i, b) in block.iter_mut().enumerate() {
                *b = start.wrapping_add((i * 37) as u8);
            }
            assert_eq!(classify(&block), classify_bytes(&block), "start {start}");
            #[cfg(target_arch = "x86_64")]
            // SAFETY: SSE2 is part of the x86_64 baseline.
            assert_eq!(unsafe { sse2::classify(&block) }, classify_bytes(&block));
        }
        let text = br#"{"a":[1,"x\"y"],"b":{"c":"\u00e9\n"}}	"#;
        let block = block_of(text);
        assert_eq!(classify(&block), classify_bytes(&block));
    }

    /// The bytes inside strings, as one byte-at-a-time walk finds them.
    fn inside_by_bytes(text: &[u8], state: &mut StringState) -> u64 {
        let mut inside = 0u64;
        for (i, &b) in text.iter().enumerate() {
            if state.in_string {
                inside |= 1 << i;
                if state.escaped {
                    state.escaped = false;
                } else if b == b'\\' {
                    state.escaped = true;
                } else if b == b'"' {
                    state.in_string = false;
                    inside &= !(1 << i);
                }
            } else if b == b'"' {
                state.in_string = true;
                inside |= 1 << i;
            }
        }
        inside
    }

    #[test]
    fn strings_are_found_across_blocks_and_escapes() {
        // Table: text split into blocks; escapes at the end of a block,
        // runs of backslashes, quotes at both edges.
        let cases: &[&[u8]] = &[
            br#"{"a":"b","c":"d\"e","f":"\\","g":"\\\"h"}"#,
            br#""abc\\\\\\\"def\\\\" , "x""#,
            b"\"................................................................................\\\"..\"",
            b"\"...............................................................\\\"",
            b"..\"..........................................................\\\\\"..\"\\\\\\\\\"",
        ];
        for text in cases {
            let (mut fast, mut slow) = (StringState::default(), StringState::default());
            for chunk in text.chunks(BLOCK) {
                let block = block_of(chunk);
                let c = classify(&block);
                let strings = fast
                    .advance(c.quote, c.backslash)
                    .expect("no stray backslash");
                let want = inside_by_bytes(&block, &mut slow);
                assert_eq!(strings.inside, want, "{}", String::from_utf8_lossy(chunk));
                assert_eq!(fast, slow, "{}", String::from_utf8_lossy(chunk));
            }
        }
    }

    /// The whole-buffer readers give the same with this CPU's classifier
    /// as with the byte-at-a-time one (the one other CPUs use).
    #[test]
    fn buffers_read_alike_with_every_classifier() {
        let corpus = include_str!("../../tests/data/corpus-records.jsonl");
        for line in corpus.lines().take(200) {
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            assert_eq!(
                plain_tokens(line.as_bytes(), &mut fast),
                plain_tokens_with(classify_bytes, line.as_bytes(), &mut slow)
            );
            assert_eq!(fast, slow);
            let mut seen = (Vec::new(), Vec::new());
            let (mut one, mut two) = (StringState::default(), StringState::default());
            let ends = (
                brackets(line.as_bytes(), &mut one, |at, b| {
                    seen.0.push((at, b));
                    true
                }),
                brackets_with(classify_bytes, line.as_bytes(), &mut two, |at, b| {
                    seen.1.push((at, b));
                    true
                }),
            );
            assert_eq!(ends.0, ends.1);
            assert_eq!(seen.0, seen.1);
            assert_eq!(one, two);
        }
    }

    /// A record found at the start of a buffer has the tokens its text
    /// alone has, with every classifier; a record the splitter must read
    /// is left to it.
    #[test]
    fn records_found_in_a_buffer_have_their_own_tokens() {
        let corpus = include_str!("../../tests/data/corpus-records.jsonl");
        let (mut found, mut escaped) = (0, 0);
        for line in corpus.lines().take(300) {
            // What follows a record in a log, and enough of it.
            let buf = format!("{line},{}", " ".repeat(BLOCK));
            let (mut fast, mut slow, mut alone) = (Vec::new(), Vec::new(), Vec::new());
            let end = object_tokens(buf.as_bytes(), &mut fast);
            assert_eq!(
                end,
                object_tokens_with(classify_bytes, buf.as_bytes(), &mut slow)
            );
            assert_eq!(fast, slow);
            if plain_tokens(line.as_bytes(), &mut alone) && line.starts_with('{') {
                assert_eq!(end, Some((line.len(), false)), "{line}");
                assert_eq!(fast, alone, "{line}");
                found += 1;
            } else if line.starts_with('{') && !line.bytes().any(|b| b < 0x20) {
                // Escapes: the record is found all the same, its escaped
                // quotes no tokens.
                assert_eq!(end, Some((line.len(), true)), "{line}");
                escaped += 1;
            } else {
                assert_eq!(end, None, "{line}");
            }
        }
        assert!(found > 200 && escaped > 0, "{found} {escaped}");
        for (buf, end) in [
            (&br#"{"a":[1,{"b":"}"}]}, {"c":1}"#[..], None),
            (br#"{"a":"}"}                                                                      "#, Some((9, false))),
            (br#"{"a":[}                                                                        "#, None),
            (br#"{"a":"\"}                                                                      "#, None),
            (br#"{"a":"\\"}                                                                      "#, Some((10, true))),
            (br#"{"a":"\""}                                                                      "#, Some((10, true))),
            // (A backslash outside a string after it: the block is the
            // splitter's to read, and so is the record.)
            (br#"{"a":1}\                                                                        "#, None),
            (br#"{"a":1\}                                                                        "#, None),
            (br#"[1]                                                                            "#, None),
            (br#"{"a":1}"#, None),
        ] {
            let mut out = Vec::new();
            assert_eq!(object_tokens(buf, &mut out), end, "{}", String::from_utf8_lossy(buf));
        }
    }

    #[test]
    fn a_backslash_outside_strings_is_left_to_the_caller() {
        for text in [&br#"{"a":1}\"x""#[..], br#"\{"a":1}"#, br#"{"a":"b"\}"#] {
            let block = block_of(text);
            let c = classify(&block);
            let mut state = StringState::default();
            assert_eq!(state.advance(c.quote, c.backslash), None);
            assert_eq!(state, StringState::default());
        }
    }
}
