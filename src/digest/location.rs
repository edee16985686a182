//! Where an object is: bucket and key.

use std::fmt;

/// An S3 object's place.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub bucket: String,
    pub key: String,
}

impl Location {
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            key: key.into(),
        }
    }
}

/// `s3://bucket/key`, with control characters escaped so a key cannot fake
/// a line in a terminal or a log.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/", self.bucket.escape_debug())?;
        write!(f, "{}", self.key.escape_debug())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_as_an_s3_uri_that_cannot_fake_a_line() {
        assert_eq!(
            Location::new("b", "AWSLogs/x.json.gz").to_string(),
            "s3://b/AWSLogs/x.json.gz"
        );
        assert_eq!(
            Location::new("b", "a\nfake line\u{1b}[2J").to_string(),
            "s3://b/a\\nfake line\\u{1b}[2J"
        );
    }
}
