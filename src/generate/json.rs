//! A small JSON text writer for the generator. Building a
//! `serde_json::Value` per record and serialising it would allocate every
//! key and node; writing the text straight into one reused buffer is several
//! times faster, which matters for logs of millions of records. Strings
//! that need escaping go through serde_json, so the escaping is exactly
//! serde_json's.

use std::io;

/// JSON text under construction. Keys and values are appended in order;
/// commas are placed automatically.
pub(crate) struct Out {
    buf: Vec<u8>,
    /// A value was written at the current nesting level, so the next one
    /// needs a comma before it.
    comma: bool,
    /// The first escaping error, reported by [`Out::take_error`] rather than
    /// returned from every method, so that record templates stay readable.
    err: Option<serde_json::Error>,
}

impl Out {
    pub(crate) fn with_capacity(capacity: usize) -> Out {
        Out {
            buf: Vec::with_capacity(capacity),
            comma: false,
            err: None,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Empties the buffer and keeps the nesting state, so that writing can
    /// go on after the text so far has been flushed.
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
    }

    /// Any error met while writing since the last call.
    pub(crate) fn take_error(&mut self) -> io::Result<()> {
        match self.err.take() {
            Some(err) => Err(err.into()),
            None => Ok(()),
        }
    }

    /// Appends text that is already JSON (the log's opening and closing).
    pub(crate) fn raw(&mut self, text: &str) {
        self.buf.extend_from_slice(text.as_bytes());
    }

    fn separate(&mut self) {
        if self.comma {
            self.buf.push(b',');
        }
        self.comma = true;
    }

    fn key(&mut self, key: &str) {
        self.separate();
        self.string(key);
        self.buf.push(b':');
    }

    fn string(&mut self, text: &str) {
        // serde_json escapes exactly '"', '\\' and control characters;
        // everything else, non-ASCII included, is copied as it is.
        let plain = text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
        if plain {
            self.buf.push(b'"');
            self.buf.extend_from_slice(text.as_bytes());
            self.buf.push(b'"');
        } else if let Err(err) = serde_json::to_writer(&mut self.buf, text) {
            self.err.get_or_insert(err);
        }
    }

    fn number(&mut self, mut value: u64) {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&digits[start..]);
    }

    /// Writes `open`, the contents `fill` writes, then `close`.
    fn nest(&mut self, open: u8, fill: impl FnOnce(&mut Out), close: u8) -> &mut Self {
        self.buf.push(open);
        self.comma = false;
        fill(self);
        self.buf.push(close);
        self.comma = true;
        self
    }

    pub(crate) fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        self.string(value);
        self
    }

    pub(crate) fn num(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        self.number(value);
        self
    }

    pub(crate) fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.raw(if value { "true" } else { "false" });
        self
    }

    pub(crate) fn null(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.raw("null");
        self
    }

    /// `"key":{...}` with the members `fill` writes.
    pub(crate) fn obj(&mut self, key: &str, fill: impl FnOnce(&mut Out)) -> &mut Self {
        self.key(key);
        self.nest(b'{', fill, b'}')
    }

    /// `"key":[...]` with the elements `fill` writes (with the `elem_*`
    /// methods).
    pub(crate) fn arr(&mut self, key: &str, fill: impl FnOnce(&mut Out)) -> &mut Self {
        self.key(key);
        self.nest(b'[', fill, b']')
    }

    /// EC2's list shape: `"key":{"items":[...]}`.
    pub(crate) fn items(&mut self, key: &str, fill: impl FnOnce(&mut Out)) -> &mut Self {
        self.obj(key, |o| {
            o.arr("items", fill);
        })
    }

    /// An object element of an array (or the top-level value).
    pub(crate) fn elem_obj(&mut self, fill: impl FnOnce(&mut Out)) -> &mut Self {
        self.separate();
        self.nest(b'{', fill, b'}')
    }

    /// A string element of an array.
    pub(crate) fn elem_str(&mut self, value: &str) -> &mut Self {
        self.separate();
        self.string(value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(fill: impl FnOnce(&mut Out)) -> String {
        let mut out = Out::with_capacity(64);
        out.elem_obj(fill);
        out.take_error().expect("no error");
        String::from_utf8(out.as_bytes().to_vec()).expect("UTF-8")
    }

    #[test]
    fn writes_nested_values_with_commas_in_place() {
        let json = text(|o| {
            o.str("a", "b")
                .num("n", 1234567890)
                .bool("t", true)
                .null("z");
            o.obj("o", |o| {
                o.items("set", |o| {
                    o.elem_obj(|o| {
                        o.num("zero", 0);
                    })
                    .elem_obj(|_| {});
                });
            });
            o.arr("l", |o| {
                o.elem_str("x").elem_str("y");
            });
        });
        assert_eq!(
            json,
            r#"{"a":"b","n":1234567890,"t":true,"z":null,"o":{"set":{"items":[{"zero":0},{}]}},"l":["x","y"]}"#
        );
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for s in [
            "plain",
            "é 日本語 🎉",
            "q\"uote",
            "back\\slash",
            "tab\tnl\n",
            "\u{1}\u{7f}",
        ] {
            let json = text(|o| {
                o.str("k", s);
            });
            let expected = format!("{{\"k\":{}}}", serde_json::to_string(s).expect("str"));
            assert_eq!(json, expected);
            let parsed: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
            assert_eq!(parsed["k"], s);
        }
    }
}
