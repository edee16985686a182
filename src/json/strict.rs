//! The checks serde_json leaves out, made with serde_json: no duplicate key
//! in any object, nesting within [`MAX_DEPTH`]. `serde_json::Value` would
//! keep the last of two equal keys silently, and a value whose meaning
//! depends on the parser could hide what a rule looks for from it.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{key_hash, MAX_DEPTH};

/// Checks the JSON text `bytes` whole: valid JSON, every string UTF-8, no
/// duplicate key, nesting within [`MAX_DEPTH`] (the value itself is level 1).
pub fn check(bytes: &[u8]) -> Result<(), serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let mut keys = Vec::new();
    Strict {
        depth: 1,
        keys: &mut keys,
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()
}

/// A serde_json error's message without its " at line L column C", which
/// would count from the start of a value, not of the record it is in.
pub fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) if err.line() > 0 => text[..at].to_string(),
        _ => text,
    }
}

/// serde_json calls a string that is not UTF-8 an "invalid unicode code
/// point"; say what it is. (Unit-tested, so a change of wording shows.)
pub(crate) fn clarify<E: de::Error>(err: E) -> E {
    if err.to_string().starts_with("invalid unicode code point") {
        E::custom("a string is not valid UTF-8")
    } else {
        err
    }
}

/// An object key, borrowed when it has no escapes.
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Keys an object may have before a walk gives it up ([`Insert::Many`]):
/// past them, the serde_json readers move its keys to a hash set, so that
/// checking never takes quadratic time. CloudTrail records have 15 to 25
/// top-level keys.
pub(crate) const KEYS_IN_LIST: usize = 48;

/// What [`ObjectKeys::insert`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Insert {
    New,
    Duplicate,
    /// More than [`KEYS_IN_LIST`] keys: not kept.
    Many,
}

/// Finds a duplicate key in one object: the one check every reader of a
/// record makes, whatever it keeps of a key (`E`). The keys go on a stack
/// shared by the objects being read (one buffer for the whole value), from
/// `base`, with their [`key_hash`]; a 64-bit mask of the hashes spares the
/// search for almost every new key.
pub(crate) struct ObjectKeys {
    base: usize,
    count: usize,
    mask: u64,
}

impl ObjectKeys {
    /// The keys of an object starting to be read: the keys of objects read
    /// before it at its level or deeper are done with.
    pub(crate) fn at<E>(stack: &[(u64, E)]) -> ObjectKeys {
        ObjectKeys {
            base: stack.len(),
            count: 0,
            mask: 0,
        }
    }

    /// Adds a key, `same` telling two apart when their hashes are equal.
    /// (Inlined: the walk adds every key of a record's top level.)
    #[inline(always)]
    pub(crate) fn insert<E>(
        &mut self,
        stack: &mut Vec<(u64, E)>,
        hash: u64,
        key: E,
        same: impl Fn(&E, &E) -> bool,
    ) -> Insert {
        if self.count >= KEYS_IN_LIST {
            return Insert::Many;
        }
        // Keys of nested objects read since were pushed after ours.
        stack.truncate(self.base + self.count);
        let bit = 1u64 << (hash >> 58);
        if self.mask & bit != 0 {
            let seen = stack.get(self.base..).unwrap_or_default();
            if seen
                .iter()
                .any(|(other, k)| *other == hash && same(k, &key))
            {
                return Insert::Duplicate;
            }
        }
        self.mask |= bit;
        stack.push((hash, key));
        self.count += 1;
        Insert::New
    }

    /// The keys kept, taken off the stack.
    fn drain<E>(&self, stack: &mut Vec<(u64, E)>) -> Vec<E> {
        stack.truncate(self.base + self.count);
        stack.drain(self.base..).map(|(_, key)| key).collect()
    }
}

/// The keys of the objects being read by serde_json, innermost last.
pub(crate) type KeyStack<'a> = Vec<(u64, Cow<'a, str>)>;

/// [`ObjectKeys`] for the serde_json readers: past [`KEYS_IN_LIST`], a
/// hash set.
pub(crate) struct StrictKeys<'a> {
    keys: ObjectKeys,
    many: Option<HashSet<Cow<'a, str>>>,
}

impl<'a> StrictKeys<'a> {
    pub(crate) fn at(stack: &KeyStack<'a>) -> StrictKeys<'a> {
        StrictKeys {
            keys: ObjectKeys::at(stack),
            many: None,
        }
    }

    /// Adds a key; an error naming it when the object has it already.
    pub(crate) fn insert<E: de::Error>(
        &mut self,
        stack: &mut KeyStack<'a>,
        key: Cow<'a, str>,
    ) -> Result<(), E> {
        if let Some(set) = self.many.as_mut() {
            return match set.contains(&key) {
                true => Err(duplicate(&key)),
                false => {
                    set.insert(key);
                    Ok(())
                }
            };
        }
        let hash = key_hash(key.as_bytes());
        match self.keys.insert(stack, hash, key.clone(), |a, b| a == b) {
            Insert::New => Ok(()),
            Insert::Duplicate => Err(duplicate(&key)),
            Insert::Many => {
                let mut set: HashSet<_> = self.keys.drain(stack).into_iter().collect();
                set.insert(key);
                self.many = Some(set);
                Ok(())
            }
        }
    }
}

impl StrictKeys<'_> {
    /// Takes this object's keys off the stack: the object is read.
    pub(crate) fn finish<E>(self, stack: &mut Vec<(u64, E)>) {
        stack.truncate(self.keys.base);
    }
}

pub(crate) fn duplicate<E: de::Error>(key: &str) -> E {
    let shown: String = key.chars().take(64).collect();
    E::custom(format_args!("duplicate key {shown:?}"))
}

/// The nesting level of the values inside a container at `depth`.
pub(crate) fn enter<E: de::Error>(depth: usize) -> Result<usize, E> {
    if depth > MAX_DEPTH {
        return Err(E::custom(format_args!(
            "the record is nested deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(depth + 1)
}

/// Reads a value, checking it as [`check`] says; keeps nothing. `depth` is
/// the value's nesting level.
struct Strict<'s, 'a> {
    depth: usize,
    keys: &'s mut KeyStack<'a>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let depth = enter(self.depth)?;
        let stack = self.keys;
        while seq
            .next_element_seed(Strict {
                depth,
                keys: &mut *stack,
            })
            .map_err(clarify)?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let depth = enter(self.depth)?;
        let stack = self.keys;
        let mut keys = StrictKeys::at(stack);
        while let Some(Key(key)) = map.next_key().map_err(clarify)? {
            keys.insert(stack, key)?;
            map.next_value_seed(Strict {
                depth,
                keys: &mut *stack,
            })
            .map_err(clarify)?;
        }
        keys.finish(stack);
        Ok(())
    }
}
