//! Members found while a value is checked: the walk that checks a value
//! as [`BorrowedValue::parse`] does notes where the members at a few
//! dotted paths are ([`super::walk::Walk::find`]), so that reading them
//! needs no tree of the value. Building the tree, and dropping it, cost
//! more than checking the value.

use std::borrow::Cow;

use super::{key_hash, BorrowedValue};

/// At most this many paths are found (a bit each in a `u32`; their
/// places are copied with every record read).
pub const MAX_PATHS: usize = 16;

/// Dotted paths of members inside an object value (`a.b`: member `b` of
/// member `a`), to find in it with [`super::walk::Walk::find`].
#[derive(Debug, Clone, Default)]
pub struct Paths {
    /// Each path as given.
    texts: Vec<String>,
    /// Per depth, each distinct key there.
    levels: Vec<Vec<LevelKey>>,
    /// Per depth, the paths whose last key is there.
    ending: Vec<u32>,
}

/// A key at one depth of the paths: its hash, its text and the paths
/// that have it there.
type LevelKey = (u64, Box<[u8]>, u32);

impl Paths {
    /// `paths`, each once, in the order given, the first [`MAX_PATHS`]
    /// of them.
    pub fn new<'p>(paths: impl IntoIterator<Item = &'p str>) -> Paths {
        let mut found = Paths::default();
        for path in paths {
            if found.texts.len() == MAX_PATHS || found.position(path).is_some() {
                continue;
            }
            let bit = 1u32 << found.texts.len();
            let mut last = 0;
            for (depth, key) in path.split('.').enumerate() {
                last = depth;
                if found.levels.len() <= depth {
                    found.levels.push(Vec::new());
                    found.ending.push(0);
                }
                let hash = key_hash(key.as_bytes());
                let level = &mut found.levels[depth];
                match level
                    .iter_mut()
                    .find(|(_, text, _)| **text == *key.as_bytes())
                {
                    Some((_, _, paths)) => *paths |= bit,
                    None => level.push((hash, key.as_bytes().into(), bit)),
                }
            }
            if let Some(ending) = found.ending.get_mut(last) {
                *ending |= bit;
            }
            found.texts.push(path.to_string());
        }
        found
    }

    /// Every path, as bits.
    pub(crate) fn all(&self) -> u32 {
        (1u32 << self.texts.len()) - 1
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// The place of `path` among the paths.
    #[inline]
    pub fn position(&self, path: &str) -> Option<usize> {
        self.texts
            .iter()
            .position(|text| super::same_key(text, path))
    }

    /// Of the paths in `wanted`, those whose key at `depth` is `key`
    /// (its [`key_hash`] `hash`).
    #[inline(always)]
    pub(crate) fn step(&self, wanted: u32, depth: usize, hash: u64, key: &[u8]) -> u32 {
        let Some(level) = self.levels.get(depth) else {
            return 0;
        };
        for (other, text, paths) in level {
            if *other == hash && super::same_key_bytes(text, key) {
                return paths & wanted;
            }
        }
        0
    }

    /// Of `paths`, those whose last key is at `depth`.
    #[inline(always)]
    pub(crate) fn ending_at(&self, paths: u32, depth: usize) -> u32 {
        paths & self.ending.get(depth).copied().unwrap_or(0)
    }
}

/// What [`super::walk::Walk::find`] looks for, and where it notes what
/// it found.
pub(crate) struct Seek<'s> {
    pub(crate) paths: &'s Paths,
    pub(crate) found: &'s mut Found,
    /// The nesting level of the value the paths start in.
    pub(crate) depth: usize,
}

impl<'s> Seek<'s> {
    /// Every path of `paths` in the value at nesting level `depth`.
    pub(crate) fn new(paths: &'s Paths, found: &'s mut Found, depth: usize) -> Seek<'s> {
        Seek {
            paths,
            found,
            depth,
        }
    }
}

/// Where a path's member is in the text walked.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// No member at that path.
    #[default]
    Absent,
    /// The member is an object or an array, or the path crosses an array
    /// (which a dotted path reads every element of): for the parsed value
    /// to answer.
    Unread,
    /// A number, `true`, `false`, `null`, or a string with an escape:
    /// its text.
    At(u32, u32),
    /// A string without escapes: its text between the quotes.
    Str(u32, u32),
}

/// The places of a value's [`Paths`], by their position.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    places: [Place; MAX_PATHS],
}

impl Found {
    pub(crate) fn set(&mut self, paths: u32, place: Place) {
        let mut bits = paths;
        while bits != 0 {
            if let Some(slot) = self.places.get_mut(bits.trailing_zeros() as usize) {
                *slot = place;
            }
            bits &= bits - 1;
        }
    }

    pub fn place(&self, path: usize) -> Place {
        self.places.get(path).copied().unwrap_or(Place::Unread)
    }

    /// The member at path `path` in `text` (the text walked), as
    /// [`BorrowedValue::parse`] reads it: `Some(None)` when there is none,
    /// `None` when only the parsed value can say.
    pub fn value<'a>(&self, text: &'a str, path: usize) -> Option<Option<BorrowedValue<'a>>> {
        match self.place(path) {
            Place::Absent => Some(None),
            Place::Unread => None,
            Place::Str(start, end) => {
                let inner = text.get(start as usize..end as usize)?;
                Some(Some(BorrowedValue::Str(Cow::Borrowed(inner))))
            }
            Place::At(start, end) => {
                let raw = text.get(start as usize..end as usize)?;
                // (Never an object or an array: those are `Unread`.)
                BorrowedValue::parse(raw)
                    .ok()
                    .filter(|value| {
                        !matches!(value, BorrowedValue::Array(_) | BorrowedValue::Object(_))
                    })
                    .map(Some)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::walk;

    /// Each place found, by hand: a member's text (as JSON), nothing
    /// there, or unread (an object, an array, a path across an array).
    #[test]
    fn found_places_read_as_the_parsed_value() {
        let paths = Paths::new([
            "type",
            "arn",
            "sessionContext.sessionIssuer.type",
            "sessionContext.attributes",
            "sessionContext.list.x",
            "n",
            "a..b",
            "type",
        ]);
        assert_eq!(paths.len(), 7, "each path once");
        const UNREAD: Option<&str> = Some("unread");
        const NONE: Option<&str> = None;
        for (text, want) in [
            (
                r#"{"type":"AssumedRole","arn":"a:b","sessionContext":{"sessionIssuer":{"type":"Role"},"attributes":{"m":"f"},"list":[{"x":1}]},"n":-12}"#,
                [
                    Some(r#""AssumedRole""#),
                    Some(r#""a:b""#),
                    Some(r#""Role""#),
                    UNREAD,
                    UNREAD,
                    Some("-12"),
                    NONE,
                ],
            ),
            (
                r#"{"type":null,"arn":true,"sessionContext":"none","n":18446744073709551615}"#,
                [
                    Some("null"),
                    Some("true"),
                    NONE,
                    NONE,
                    NONE,
                    Some("18446744073709551615"),
                    NONE,
                ],
            ),
            (
                r#"{"sessionContext":{"sessionIssuer":[{"type":"Role"}],"attributes":[]},"a":{"":{"b":"empty key"}}}"#,
                [
                    NONE,
                    NONE,
                    UNREAD,
                    UNREAD,
                    NONE,
                    NONE,
                    Some(r#""empty key""#),
                ],
            ),
            (
                r#"{"sessionContext":{"sessionIssuer":{},"list":{"x":false}},"type":"Root" , "n" : 0 }"#,
                [
                    Some(r#""Root""#),
                    NONE,
                    NONE,
                    NONE,
                    Some("false"),
                    Some("0"),
                    NONE,
                ],
            ),
            (r#"{}"#, [NONE; 7]),
        ] {
            let found = walk::with_tokens(text.as_bytes(), |mut walk| {
                let mut found = Found::default();
                walk.find_all(0, text, 2, &paths, &mut found)?;
                Some(found)
            })
            .expect("walked");
            for (at, want) in want.into_iter().enumerate() {
                let got = match found.value(text, at) {
                    None => Some("unread".to_string()),
                    Some(None) => None,
                    Some(Some(value)) => Some(value.to_value().to_string()),
                };
                assert_eq!(got.as_deref(), want, "path {at} in {text}");
            }
        }
    }

    /// Where building gives up, finding does: a float, a duplicate key
    /// at any depth, nesting past the limit.
    #[test]
    fn finding_checks_as_building_does() {
        let paths = Paths::new(["type"]);
        let deep = format!("{}{}", "[".repeat(120), "]".repeat(120));
        for text in [
            r#"{"type":"Root","a":{"b":1.5}}"#,
            r#"{"type":"Root","a":{"b":1,"b":2}}"#,
            r#"{"type":"Root","type":"IAMUser"}"#,
            &format!(r#"{{"type":"Root","a":{deep}}}"#),
            r#"{"type":"Root","a":-0}"#,
        ] {
            let found = walk::with_tokens(text.as_bytes(), |mut walk| {
                let mut found = Found::default();
                walk.find_all(0, text, 2, &paths, &mut found)?;
                Some(found)
            });
            assert_eq!(found, None, "{text}");
            let built = walk::value(text);
            assert!(built.is_none(), "{text}");
        }
    }

    #[test]
    fn at_most_max_paths() {
        let many: Vec<String> = (0..MAX_PATHS + 5).map(|n| format!("k{n}")).collect();
        let paths = Paths::new(many.iter().map(String::as_str));
        assert_eq!(paths.len(), MAX_PATHS);
        assert_eq!(paths.all(), (1 << MAX_PATHS) - 1);
        assert_eq!(paths.position("k3"), Some(3));
        assert_eq!(paths.position(&format!("k{MAX_PATHS}")), None);
    }
}
