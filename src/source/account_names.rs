//! Where account names come from (`ACCOUNT_NAMES`, `trailwatch scan
//! --account-names`): a file (in the deployment package, or anywhere on
//! the command line) or one S3 object, read once.

use std::fmt;
use std::path::PathBuf;

use crate::alert::accounts::{AccountNames, AccountNamesError};

/// Bytes of a names file read: a map of thousands of accounts is far
/// less.
pub const MAX_NAMES_BYTES: usize = 4 << 20;

/// A names file: a path, or `s3://bucket/key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamesAt {
    File(PathBuf),
    S3 { bucket: String, key: String },
}

impl NamesAt {
    /// `s3://bucket/key` (one object: the key is required), or a path;
    /// `None` for blank text or an `s3://` URI without a key.
    pub fn parse(text: &str) -> Option<NamesAt> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        match text.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, key) = rest.split_once('/')?;
                (!bucket.is_empty() && !key.is_empty() && !key.ends_with('/')).then(|| {
                    NamesAt::S3 {
                        bucket: bucket.to_string(),
                        key: key.to_string(),
                    }
                })
            }
            None => Some(NamesAt::File(PathBuf::from(text))),
        }
    }

    /// Reads and parses the names; `s3` is needed only for an `s3://` one.
    pub async fn load(
        &self,
        s3: Option<&aws_sdk_s3::Client>,
    ) -> Result<AccountNames, AccountNamesError> {
        let fail = |message: String| AccountNamesError {
            origin: self.to_string(),
            message,
        };
        let text = match self {
            NamesAt::File(path) => read_file(path).map_err(fail)?,
            NamesAt::S3 { bucket, key } => {
                let Some(s3) = s3 else {
                    return Err(fail("no S3 client to read it with".to_string()));
                };
                crate::source::rules_s3::get_text(s3, bucket, key, MAX_NAMES_BYTES)
                    .await
                    .map_err(fail)?
            }
        };
        AccountNames::parse(&self.to_string(), &text)
    }
}

/// The file's UTF-8 text, if it is at most [`MAX_NAMES_BYTES`].
fn read_file(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_NAMES_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() > MAX_NAMES_BYTES {
        return Err(format!("more than {MAX_NAMES_BYTES} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

impl fmt::Display for NamesAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamesAt::File(path) => write!(f, "{}", path.display()),
            NamesAt::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_and_s3_objects() {
        let s3 = |bucket: &str, key: &str| {
            Some(NamesAt::S3 {
                bucket: bucket.into(),
                key: key.into(),
            })
        };
        let cases = [
            ("accounts.yaml", Some(NamesAt::File("accounts.yaml".into()))),
            (
                " /var/task/names.json ",
                Some(NamesAt::File("/var/task/names.json".into())),
            ),
            (
                "s3://config/trailwatch/accounts.json",
                s3("config", "trailwatch/accounts.json"),
            ),
            ("s3://config", None),
            ("s3://config/", None),
            ("s3://config/dir/", None),
            ("s3:///key", None),
            ("  ", None),
        ];
        for (text, want) in cases {
            assert_eq!(NamesAt::parse(text), want, "{text:?}");
        }
    }

    #[tokio::test]
    async fn a_file_is_read_and_its_problems_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let good = dir.path().join("names.yaml");
        std::fs::write(&good, "111122223333: prod-payments\n").expect("write");
        let names = NamesAt::File(good).load(None).await.expect("loads");
        assert_eq!(names.name("111122223333"), Some("prod-payments"));

        let missing = dir.path().join("missing.yaml");
        let err = NamesAt::File(missing.clone())
            .load(None)
            .await
            .expect_err("missing");
        assert!(
            err.to_string()
                .starts_with(&format!("{}: ", missing.display())),
            "{err}"
        );

        let binary = dir.path().join("names.bin");
        std::fs::write(&binary, [0xff, 0xfe, 0x00]).expect("write");
        let err = NamesAt::File(binary).load(None).await.expect_err("binary");
        assert!(
            err.to_string().ends_with("names.bin: not UTF-8 text"),
            "{err}"
        );
    }
}
