//! Safe text: attacker-controlled fields (userAgent, request parameters,
//! error messages, even key names) end up in an email a person reads and in
//! an SNS subject. Here is the one place that decides which characters may
//! reach them as they are.
//!
//! It is an allow-list, by Unicode general category: a character is *shown*
//! when it is a letter (L), a number (N), punctuation (P), a symbol (S) or
//! the ordinary space U+0020, and a combining mark (M) is shown while at
//! most [`MAX_MARKS`] follow one another (a few carry accents and vowel
//! signs; a pile of them, "Zalgo" text, covers the lines around it).
//! Characters that Unicode marks default-ignorable (drawn as nothing: the
//! Hangul fillers U+115F, U+1160, U+3164, U+FFA0, the combining grapheme
//! joiner U+034F, variation selectors, which can smuggle bytes) and the
//! blank Braille pattern U+2800 are not shown, whatever their category.
//! Everything else is *unsafe*: controls, line and paragraph separators and
//! every other space, format characters (bidi controls, zero-width and
//! invisible characters, prepended concatenation marks, tags), private use
//! and unassigned code points. The categories come from the Unicode tables
//! regex-syntax carries, read once.
//!
//! In the email, each unsafe character is replaced by a visible escape
//! (`\r`, `\n`, `\t`, otherwise `\uXXXX` in lower-case hex as JSON writes
//! it, a UTF-16 surrogate pair outside the Basic Multilingual Plane), so
//! the reader sees that the value carried it and what it was; a backslash
//! already in a value is left alone (the escape is for the eye, not to be
//! decoded). In the subject, where every character counts, controls and
//! spaces become a space and runs of them collapse to one, invisible
//! characters (format, default-ignorable, marks past the few) are dropped,
//! and any other unsafe character becomes U+FFFD. The JSON document is not
//! touched: it is for machines and stays faithful.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::OnceLock;

/// Combining marks shown one after another; the rest are escaped (email)
/// or dropped (subject).
pub(crate) const MAX_MARKS: usize = 3;

/// How a character is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// As it is.
    Shown,
    /// As it is while few follow one another.
    Mark,
    /// Drawn as nothing (format characters, default-ignorables): escaped
    /// in the email, dropped in the subject.
    Invisible,
    /// Everything else: controls, separators, other spaces, private use,
    /// unassigned.
    Other,
}

/// The classes, as regex-syntax writes them; the sets are disjoint.
const CLASSES: [(Kind, &str); 3] = [
    (
        Kind::Shown,
        r"[[\p{L}\p{N}\p{P}\p{S}\x20]--[\p{Default_Ignorable_Code_Point}\x{2800}]]",
    ),
    (Kind::Mark, r"[\p{M}--\p{Default_Ignorable_Code_Point}]"),
    (
        Kind::Invisible,
        r"[\p{Cf}\p{Default_Ignorable_Code_Point}\x{2800}]",
    ),
];

/// Sorted, disjoint ranges of code points and their kind; what is in none
/// is [`Kind::Other`].
fn table() -> &'static [(u32, u32, Kind)] {
    static TABLE: OnceLock<Vec<(u32, u32, Kind)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut ranges = Vec::new();
        for (kind, class) in CLASSES {
            // Constant patterns: should one not parse, its characters are
            // Other and escaped, never shown.
            let Ok(hir) = regex_syntax::parse(class) else {
                continue;
            };
            if let regex_syntax::hir::HirKind::Class(regex_syntax::hir::Class::Unicode(set)) =
                hir.kind()
            {
                ranges.extend(
                    set.ranges()
                        .iter()
                        .map(|r| (u32::from(r.start()), u32::from(r.end()), kind)),
                );
            }
        }
        ranges.sort_unstable_by_key(|&(start, _, _)| start);
        ranges
    })
}

fn kind(c: char) -> Kind {
    if matches!(c, ' '..='~') {
        return Kind::Shown;
    }
    let code = u32::from(c);
    let table = table();
    let at = table.partition_point(|&(start, _, _)| start <= code);
    match at.checked_sub(1).and_then(|i| table.get(i)) {
        Some(&(_, end, kind)) if code <= end => kind,
        _ => Kind::Other,
    }
}

/// Whether `c` is never shown as it is (marks aside, which are shown while
/// few follow one another).
#[cfg(test)]
fn is_unsafe(c: char) -> bool {
    !matches!(kind(c), Kind::Shown | Kind::Mark)
}

/// Counts the marks in a row: whether the next character is shown.
#[derive(Default)]
struct Marks(usize);

impl Marks {
    fn shows(&mut self, kind: Kind) -> bool {
        match kind {
            Kind::Shown => {
                self.0 = 0;
                true
            }
            Kind::Mark => {
                self.0 += 1;
                self.0 <= MAX_MARKS
            }
            Kind::Invisible | Kind::Other => false,
        }
    }
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

/// A value for one line of the email: every character not shown becomes a
/// visible escape, so the value can never start a new line, forge a header,
/// turn the text right-to-left, hide text or send a terminal escape.
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

/// JSON text safe to show in the email, meaning the same: every character
/// not shown is escaped as `\uXXXX`, which inside a JSON string (where
/// serde_json's output can hold them: its structure is ASCII) means the
/// same character. Newlines are kept (the layout's own).
pub(crate) fn json_text(json: &str) -> String {
    rewrite(json, |c| c == '\n', push_json_escape)
}

/// `text` with each character not shown and not kept by `keep` replaced
/// by what `escape` writes. It runs over whole records, so printable ASCII
/// is passed over by the byte, and the runs between escapes copied whole.
fn rewrite(text: &str, keep: impl Fn(char) -> bool, escape: impl Fn(&mut String, char)) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut marks = Marks::default();
    for (at, &byte) in text.as_bytes().iter().enumerate() {
        if (0x20..0x7f).contains(&byte) {
            marks.shows(Kind::Shown);
            continue;
        }
        // Continuation bytes belong to the character decoded at its start.
        if (0x80..0xc0).contains(&byte) {
            continue;
        }
        let Some(c) = text.get(at..).and_then(|rest| rest.chars().next()) else {
            continue;
        };
        if !marks.shows(kind(c)) && !keep(c) {
            out.push_str(text.get(copied..at).unwrap_or_default());
            escape(&mut out, c);
            copied = at + c.len_utf8();
        }
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    out
}

/// A subject line: controls and spaces become a space and runs of them
/// collapse to one, invisible characters and marks past [`MAX_MARKS`] are
/// dropped, other unsafe characters become U+FFFD, and the text is cut to
/// at most `max` characters on a character boundary.
pub(crate) fn subject_line(text: &str, max: usize) -> String {
    let mut flat = String::with_capacity(text.len().min(4 * max));
    let mut kept = 0;
    let mut marks = Marks::default();
    for c in text.chars() {
        if kept == max {
            break;
        }
        let kind = kind(c);
        let c = if marks.shows(kind) {
            c
        } else if c.is_whitespace() || c.is_control() {
            ' '
        } else if matches!(kind, Kind::Other) {
            '\u{fffd}'
        } else {
            continue;
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

    /// What issue 19 found passing raw, and their kin: each is escaped in
    /// the email and never reaches the subject as it is.
    #[test]
    fn characters_outside_the_allow_list_are_escaped() {
        let ranges: [(u32, u32, &str); 16] = [
            (0x206a, 0x206f, "deprecated format characters"),
            (0xfff9, 0xfffb, "interlinear annotation"),
            (0x3164, 0x3164, "Hangul filler"),
            (0x115f, 0x1160, "Hangul choseong and jungseong fillers"),
            (0xffa0, 0xffa0, "halfwidth Hangul filler"),
            (0x034f, 0x034f, "combining grapheme joiner"),
            (0x0600, 0x0605, "prepended concatenation marks"),
            (0x06dd, 0x06dd, "end of ayah"),
            (0x070f, 0x070f, "Syriac abbreviation mark"),
            (0x08e2, 0x08e2, "disputed end of ayah"),
            (0x1bca0, 0x1bca3, "shorthand format controls"),
            (0x1d173, 0x1d17a, "musical symbol format controls"),
            (0xfe00, 0xfe0f, "variation selectors"),
            (0xe0100, 0xe01ef, "variation selectors supplement"),
            (0x2800, 0x2800, "blank Braille pattern"),
            (0xe000, 0xe000, "private use"),
        ];
        let others: [(char, &str); 9] = [
            ('\u{a0}', "no-break space"),
            ('\u{2000}', "en quad"),
            ('\u{3000}', "ideographic space"),
            ('\u{2028}', "line separator"),
            ('\u{85}', "next line"),
            ('\u{ad}', "soft hyphen"),
            ('\u{200b}', "zero-width space"),
            ('\u{378}', "unassigned"),
            ('\u{10ffff}', "noncharacter, unassigned"),
        ];
        let cases = ranges
            .iter()
            .flat_map(|&(first, last, what)| (first..=last).map(move |code| (code, what)))
            .filter_map(|(code, what)| Some((char::from_u32(code)?, what)))
            .chain(others);
        for (c, what) in cases {
            let mut escaped = String::new();
            push_json_escape(&mut escaped, c);
            assert!(is_unsafe(c), "{what} {c:?}");
            assert_eq!(
                one_line(&format!("a{c}b")),
                format!("a{escaped}b"),
                "{what}"
            );
            assert_eq!(
                json_text(&format!("a{c}b")),
                format!("a{escaped}b"),
                "{what}"
            );
            let subject = subject_line(&format!("a{c}b"), 99);
            assert!(
                ["ab", "a b", "a\u{fffd}b"].contains(&subject.as_str()),
                "{what} {c:?}: {subject:?}"
            );
        }
    }

    #[test]
    fn letters_marks_numbers_punctuation_and_symbols_are_shown() {
        let shown = [
            "plain ASCII: ~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./",
            "é ñ ß Ω Ж ק ع 日本語 한국어 ไทย हिन्दी",
            "Vietnamese in parts: e\u{323}\u{302}",
            "digits ٣ ४ ½ Ⅻ",
            "symbols € © ™ → ∑ — « » 😀 🇫🇷",
        ];
        for text in shown {
            assert_eq!(one_line(text), text);
            assert_eq!(json_text(text), text);
            assert_eq!(subject_line(text, 999), text);
        }
    }

    #[test]
    fn a_pile_of_marks_shows_only_the_first_few() {
        let zalgo: String = "Ẓ"
            .chars()
            .chain(std::iter::repeat_n('\u{301}', 6))
            .collect();
        let cases = [
            (
                "a\u{301}\u{302}\u{303}\u{304}\u{305}b",
                "a\u{301}\u{302}\u{303}\\u0304\\u0305b",
                "a\u{301}\u{302}\u{303}b",
            ),
            // Each base character has its own few.
            (
                "a\u{301}\u{301}\u{301}b\u{301}\u{301}\u{301}",
                "a\u{301}\u{301}\u{301}b\u{301}\u{301}\u{301}",
                "a\u{301}\u{301}\u{301}b\u{301}\u{301}\u{301}",
            ),
            // An escaped character between marks does not start a new base.
            (
                "a\u{301}\u{301}\u{301}\u{200b}\u{301}",
                "a\u{301}\u{301}\u{301}\\u200b\\u0301",
                "a\u{301}\u{301}\u{301}",
            ),
        ];
        for (text, email, subject) in cases {
            assert_eq!(one_line(text), email, "{text:?}");
            assert_eq!(json_text(text), email, "{text:?}");
            assert_eq!(subject_line(text, 99), subject, "{text:?}");
        }
        let shown = one_line(&zalgo);
        assert_eq!(
            shown, "Ẓ\u{301}\u{301}\u{301}\\u0301\\u0301\\u0301",
            "{zalgo:?}"
        );
        let marks = |text: &str| text.chars().filter(|&c| kind(c) == Kind::Mark).count();
        let pile: String = std::iter::repeat_n(zalgo.as_str(), 50).collect();
        assert_eq!(marks(&one_line(&pile)), 50 * MAX_MARKS);
        assert_eq!(marks(&subject_line(&pile, 9999)), 50 * MAX_MARKS);
    }

    /// The byte scan passes printable ASCII over without a look-up: the
    /// table must say the same of it, and must have been built.
    #[test]
    fn the_table_is_built_and_agrees_with_the_ascii_shortcut() {
        assert!(table().len() > 1000, "{}", table().len());
        let mut last_end = None;
        for &(start, end, _) in table() {
            assert!(start <= end);
            assert!(last_end.is_none_or(|last| last < start), "disjoint, sorted");
            last_end = Some(end);
        }
        for c in ' '..='~' {
            let code = u32::from(c);
            let at = table().partition_point(|&(start, _, _)| start <= code);
            let (_, end, kind) = table()[at - 1];
            assert!(code <= end && kind == Kind::Shown, "{c:?}");
        }
        assert_eq!(kind('\u{301}'), Kind::Mark);
        assert_eq!(kind('\u{200e}'), Kind::Invisible);
        assert_eq!(kind('\u{e000}'), Kind::Other);
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
