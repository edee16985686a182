//! SHA-256 and hex, and the SHA-256 of a log object's uncompressed
//! content, streamed.
//!
//! The User Guide (custom validation, F): "Hash the uncompressed contents of
//! the log file"; the aws-cli inflates the body 2 KiB at a time into a
//! rolling SHA-256 (`_download_log`) and, since aws/aws-cli#10324, fails a
//! log with data after its first gzip member: a reader that takes every
//! member (as trailwatch's own pipeline does) would see records the digest
//! never covered.

use std::io::{self, BufRead, BufReader, Read};

use aws_lc_rs::digest;

/// What hashing a log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHash {
    pub sha256: [u8; 32],
    /// Bytes follow the first gzip member.
    pub appended: bool,
}

/// Hashes a log's uncompressed content from `body`, holding one buffer of it
/// at a time. A body that is not gzip (a local copy someone inflated) is
/// its own content. A gzip body that does not inflate is
/// `io::ErrorKind::InvalidData` or `UnexpectedEof`; other errors are the
/// reader's.
pub fn hash_log(mut body: impl Read) -> io::Result<LogHash> {
    // The first two bytes say gzip or not; a short read may give only one.
    let mut head = [0u8; 2];
    let mut filled = 0;
    while filled < head.len() {
        match body.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let is_gzip = head[..filled] == [0x1f, 0x8b];
    let mut body = BufReader::with_capacity(
        64 * 1024,
        io::Cursor::new(head).take(filled as u64).chain(body),
    );
    let mut sha = Sha256::new();
    if !is_gzip {
        io::copy(&mut body, &mut sha)?;
        return Ok(LogHash {
            sha256: sha.finish(),
            appended: false,
        });
    }
    let mut decoder = flate2::bufread::GzDecoder::new(body);
    io::copy(&mut decoder, &mut sha)?;
    let mut rest = decoder.into_inner();
    let appended = !rest.fill_buf()?.is_empty();
    Ok(LogHash {
        sha256: sha.finish(),
        appended,
    })
}

/// A running SHA-256.
pub struct Sha256(digest::Context);

impl Sha256 {
    pub fn new() -> Self {
        Self(digest::Context::new(&digest::SHA256))
    }

    pub fn of(bytes: &[u8]) -> [u8; 32] {
        let mut sha = Self::new();
        sha.update(bytes);
        sha.finish()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> [u8; 32] {
        let mut out = [0; 32];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl std::io::Write for Sha256 {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Lower-case hex, as CloudTrail writes hashes and signatures.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Hex of either case to bytes; `None` for anything else.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// Two hex strings name the same bytes (case aside).
pub fn same_hex(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(bytes).expect("gzip");
        gz.finish().expect("gzip")
    }

    /// A reader that hands out one byte a call, as a slow network might.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            if buf.is_empty() {
                return Ok(0);
            }
            buf[0] = *first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn hashes_the_uncompressed_content() {
        let content = br#"{"Records":[{"eventName":"ListBuckets"}]}"#;
        let expected = hex(&Sha256::of(content));
        let gz = gzip(content);
        let mut appended = gz.clone();
        appended.extend_from_slice(&gzip(br#"{"Records":[]}"#));
        let cases: [(&str, Box<dyn Read>, bool); 5] = [
            ("gzip", Box::new(&gz[..]), false),
            ("gzip a byte at a time", Box::new(Trickle(&gz)), false),
            ("plain", Box::new(&content[..]), false),
            ("plain a byte at a time", Box::new(Trickle(content)), false),
            ("a second gzip member", Box::new(&appended[..]), true),
        ];
        for (name, body, is_appended) in cases {
            let hash = hash_log(body).expect(name);
            assert_eq!(hex(&hash.sha256), expected, "{name}");
            assert_eq!(hash.appended, is_appended, "{name}");
        }
        let empty = hash_log(&b""[..]).expect("empty");
        assert_eq!(hex(&empty.sha256), hex(&Sha256::of(b"")));
    }

    #[test]
    fn a_broken_gzip_is_invalid_data() {
        let gz = gzip(b"{\"Records\":[]}");
        for (name, bytes) in [
            ("truncated", &gz[..gz.len() - 9]),
            ("header only", &gz[..2]),
        ] {
            let error = hash_log(bytes).expect_err(name);
            assert!(
                matches!(
                    error.kind(),
                    io::ErrorKind::InvalidData
                        | io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::InvalidInput
                ),
                "{name}: {error:?}"
            );
        }
        let mut corrupt = gz.clone();
        let crc = corrupt.len() - 8;
        corrupt[crc] ^= 1;
        let error = hash_log(&corrupt[..]).expect_err("a wrong CRC");
        assert!(
            matches!(
                error.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput
            ),
            "{error:?}"
        );
    }

    #[test]
    fn hex_round_trips_and_rejects_non_hex() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(unhex("00ABff"), Some(vec![0, 0xab, 0xff]));
        for bad in ["0", "zz", "0g", "é0"] {
            assert_eq!(unhex(bad), None, "{bad}");
        }
        // SHA-256 of "abc" (FIPS 180-2, appendix B.1).
        assert_eq!(
            hex(&Sha256::of(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
