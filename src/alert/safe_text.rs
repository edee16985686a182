//! Safe text: attacker-controlled fields (userAgent, request parameters,
//! error messages, even key names) end up in an email a person reads and in
//! an SNS subject. Here is the one place that decides which characters may
//! reach them as they are.
//!
//! A character is *unsafe* when it can change how the text around it is
//! laid out or displayed rather than being seen itself:
//!
//! - control characters: C0 (NUL..US, which includes TAB, LF, CR and ESC,
//!   the start of terminal escapes), DEL and C1 (U+0080..U+009F, including
//!   NEL and the 8-bit CSI);
//! - the Unicode line and paragraph separators U+2028 and U+2029;
//! - bidirectional controls: U+061C, U+200E, U+200F, U+202A..U+202E,
//!   U+2066..U+2069 (after U+202E, `gnp.exe` displays as `exe.png`);
//! - invisible characters: soft hyphen U+00AD, Mongolian vowel separator
//!   U+180E, zero-width space, non-joiner and joiner (U+200B..U+200D), word
//!   joiner and invisible operators (U+2060..U+2064), the BOM / zero-width
//!   no-break space U+FEFF, and the tag characters U+E0000..U+E007F (which
//!   can smuggle invisible ASCII).
//!
//! In the email, each unsafe character is replaced by a visible escape
//! (`\r`, `\n`, `\t`, otherwise `\uXXXX` in lower-case hex as JSON writes
//! it, a UTF-16 surrogate pair for a tag character), so the reader sees that the value carried it and what it was; a
//! backslash already in a value is left alone (the escape is for the eye,
//! not to be decoded). In the subject, where every character counts, they
//! become a space (controls, separators) or are dropped (bidi and invisible
//! characters), and runs of whitespace collapse to one space. The JSON
//! document is not touched: it is for machines and stays faithful.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` may change the layout or the direction of the text around
/// it, or hides itself (see the module documentation).
pub(crate) fn is_unsafe(c: char) -> bool {
    c.is_control() || is_separator(c) || is_bidi(c) || is_invisible(c)
}

fn is_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

fn is_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200d}'
            | '\u{2060}'..='\u{2064}'
            | '\u{feff}'
            | '\u{e0000}'..='\u{e007f}'
    )
}

/// Appends the visible escape of `c`: `\r`, `\n`, `\t` or its JSON
/// escape.
fn push_escape(out: &mut String, c: char) {
    match c {
        '\r' => out.push_str("\\r"),
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        _ => push_json_escape(out, c),
    }
}

/// Appends `\uXXXX` for `c`, two of them (a surrogate pair) outside the
/// Basic Multilingual Plane, as JSON spells any character.
fn push_json_escape(out: &mut String, c: char) {
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        let _ = write!(out, "\\u{unit:04x}");
    }
}

/// A value for one line of the email: every unsafe character becomes a
/// visible escape, so the value can never start a new line, forge a header,
/// turn the text right-to-left or send a terminal escape.
pub(crate) fn one_line(value: &str) -> String {
    rewrite(value, |_| false, push_escape)
}

/// Trusted text that may span lines (a rule's description): its line
/// breaks are kept, each line is made safe as [`one_line`] makes a value,
/// and trailing whitespace is dropped.
pub(crate) fn lines(text: &str) -> String {
    let safe: Vec<String> = text
        .trim_end()
        .split('\n')
        .map(|line| one_line(line.trim_end()))
        .collect();
    safe.join("\n")
}

/// JSON text (serde_json's output) safe to show in the email, meaning the
/// same: serde_json already escapes C0 controls inside strings; this also
/// escapes DEL, C1, the line separators, bidi and invisible characters as
/// `\uXXXX`. Those can only occur inside JSON strings (the structure is
/// ASCII), where an escape means the same character. The layout's own
/// newlines are kept.
pub(crate) fn json_text(json: &str) -> String {
    rewrite(json, |c| c == '\n', push_json_escape)
}

/// `text` with each unsafe character not kept by `keep` replaced by what
/// `escape` writes. It runs over whole records, so it scans bytes, decodes
/// only those that can start an unsafe character, and copies the runs
/// between them whole.
fn rewrite(text: &str, keep: impl Fn(char) -> bool, escape: impl Fn(&mut String, char)) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, &byte) in text.as_bytes().iter().enumerate() {
        if !may_start_unsafe(byte) {
            continue;
        }
        // `at` is where a character starts: every byte that can start an
        // unsafe one is a leading byte.
        let Some(c) = text.get(at..).and_then(|rest| rest.chars().next()) else {
            continue;
        };
        if is_unsafe(c) && !keep(c) {
            out.push_str(text.get(copied..at).unwrap_or_default());
            escape(&mut out, c);
            copied = at + c.len_utf8();
        }
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    out
}

/// Whether `byte` can be the first byte of an unsafe character in UTF-8:
/// C0 and DEL; 0xC2 (C1 controls, U+00AD); 0xD8 (U+061C); 0xE1 (U+180E);
/// 0xE2 (U+200B..U+206F); 0xEF (U+FEFF); 0xF3 (tag characters).
fn may_start_unsafe(byte: u8) -> bool {
    byte < 0x20 || matches!(byte, 0x7f | 0xc2 | 0xd8 | 0xe1 | 0xe2 | 0xef | 0xf3)
}

/// A subject line: unsafe characters become a space (controls and
/// separators) or are dropped (bidi and invisible characters), whitespace
/// runs collapse to one space, and the text is cut to at most `max`
/// characters on a character boundary.
pub(crate) fn subject_line(text: &str, max: usize) -> String {
    let mut flat = String::with_capacity(text.len().min(4 * max));
    let mut kept = 0;
    for c in text.chars() {
        if kept == max {
            break;
        }
        if is_bidi(c) || is_invisible(c) {
            continue;
        }
        let c = if is_unsafe(c) || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && (flat.is_empty() || flat.ends_with(' ')) {
            continue;
        }
        flat.push(c);
        kept += 1;
    }
    flat.truncate(flat.trim_end().len());
    flat
}

/// `text` cut to at most `max` characters, ending in `…` when cut.
pub(crate) fn cut_chars(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
pub(crate) fn cut_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_escapes_every_unsafe_character_visibly() {
        let cases = [
            ("plain text, é 日本", "plain text, é 日本"),
            ("evil\r\nBcc: x", "evil\\r\\nBcc: x"),
            ("tab\there", "tab\\there"),
            ("\u{1b}[31mred\u{1b}[0m", "\\u001b[31mred\\u001b[0m"),
            (
                "del\u{7f} nel\u{85} csi\u{9b}",
                "del\\u007f nel\\u0085 csi\\u009b",
            ),
            ("a\u{2028}b\u{2029}c", "a\\u2028b\\u2029c"),
            ("\u{202e}gnp.exe", "\\u202egnp.exe"),
            (
                "\u{2066}x\u{2069}\u{200e}\u{200f}\u{61c}",
                "\\u2066x\\u2069\\u200e\\u200f\\u061c",
            ),
            (
                "zero\u{200b}width\u{feff}\u{2060}",
                "zero\\u200bwidth\\ufeff\\u2060",
            ),
            ("back\\slash stays", "back\\slash stays"),
            ("soft\u{ad}hy\u{180e}phen", "soft\\u00adhy\\u180ephen"),
            ("tag\u{e0041}\u{e007f}", "tag\\udb40\\udc41\\udb40\\udc7f"),
        ];
        for (value, want) in cases {
            assert_eq!(one_line(value), want, "{value:?}");
        }
    }

    #[test]
    fn every_unsafe_character_starts_with_a_byte_the_scan_decodes() {
        let mut utf8 = [0u8; 4];
        for c in (0..=0x10ffff)
            .filter_map(char::from_u32)
            .filter(|&c| is_unsafe(c))
        {
            let first = c.encode_utf8(&mut utf8).as_bytes()[0];
            assert!(may_start_unsafe(first), "{c:?}");
        }
    }

    #[test]
    fn lines_keeps_line_breaks_and_makes_each_line_safe() {
        assert_eq!(
            lines("First line.  \r\nSecond \u{1b}[2J line.\n\n  Indented.\n\n"),
            "First line.\nSecond \\u001b[2J line.\n\n  Indented."
        );
    }

    #[test]
    fn json_text_escapes_what_serde_leaves_and_means_the_same() {
        let value = serde_json::json!({"k\u{202e}": "a\u{7f}\u{85}\u{2028}\u{200b}\u{1b}\r\n é\u{e0041}😀"});
        let pretty = serde_json::to_string_pretty(&value).expect("json");
        let safe = json_text(&pretty);
        assert!(!safe.chars().any(|c| c != '\n' && is_unsafe(c)), "{safe}");
        assert_eq!(safe.lines().count(), pretty.lines().count());
        let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
        assert_eq!(back, value);
    }

    #[test]
    fn subject_line_flattens_drops_and_cuts() {
        let cases = [
            ("a\tb\r\nc", 99, "a b c"),
            ("a   \u{3000} b ", 99, "a b"),
            ("x\u{202e}gnp.exe\u{200b}", 99, "xgnp.exe"),
            ("\u{1b}[31mred", 99, "[31mred"),
            ("é", 99, "é"),
            ("abcdef", 4, "abcd"),
            ("ab  defg", 4, "ab d"),
            ("abc defg", 4, "abc"),
            ("abcd", 4, "abcd"),
        ];
        for (text, max, want) in cases {
            assert_eq!(subject_line(text, max), want, "{text:?}");
        }
    }

    #[test]
    fn cuts_respect_character_boundaries() {
        assert_eq!(cut_bytes("aéb", 2), "a");
        assert_eq!(cut_bytes("aéb", 3), "aé");
        assert_eq!(cut_bytes("aéb", 99), "aéb");
        assert_eq!(cut_bytes("日本", 0), "");
        assert_eq!(cut_chars("日本語", 2), "日本…");
        assert_eq!(cut_chars("日本語", 3), "日本語");
    }
}
