//! A local copy of a trail's bucket (`aws s3 sync s3://bucket/prefix dir`)
//! as a [`DigestStore`], for `trailwatch verify DIR`.
//!
//! A copy keeps the objects and loses two things S3 had: the bucket (and
//! key prefix) and each object's user metadata, where CloudTrail puts a
//! digest's signature. So:
//!
//! - an object is found by its key from `AWSLogs/` on, under the directory
//!   that holds the copy's `AWSLogs/` (or, in a copy whose files were put
//!   in one folder, by its file name); the bucket and prefix are each
//!   digest's own word;
//! - a digest's signature is the one the next digest of its chain repeats
//!   (`previousDigestSignature`): the RSA check proves CloudTrail signed
//!   the content whatever file the signature came from. The newest digest
//!   of a chain has no next one; its signature can be put beside it as
//!   `NAME.metadata.json`, what `aws s3api head-object --bucket B --key K`
//!   prints (or its `Metadata` object alone). Without that it cannot be
//!   verified, and the caller says so rather than calling it unsigned.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::digest::file;
use crate::digest::verify::read_capped;
use crate::digest::{DigestStore, Failure, Location, Object};

/// The folder the object keys of a trail start at.
const AWS_LOGS: &str = "AWSLogs";

/// A digest found in the copy: the place verified (the digest's bucket,
/// its prefix, and where the file lies from `AWSLogs/` on) and its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDigest {
    pub at: Location,
    pub path: PathBuf,
    /// A signature is known: from a later digest or a `.metadata.json`.
    pub signed: bool,
}

/// The copy.
pub struct LocalDigests {
    /// Directories that hold an `AWSLogs/` of the copy.
    bases: Vec<PathBuf>,
    /// Files by name, for a copy without the `AWSLogs/` layout.
    by_name: HashMap<String, PathBuf>,
    /// The digests found, by the key they are verified at.
    digests: HashMap<String, PathBuf>,
    /// Signature metadata by key from `AWSLogs/` on, from the later digest
    /// that names the key as its previous one.
    signatures: HashMap<String, BTreeMap<String, String>>,
}

/// The part of `key` from its last `AWSLogs/` folder on.
fn tail(key: &str) -> Option<&str> {
    if key.starts_with("AWSLogs/") {
        return Some(key);
    }
    key.rfind("/AWSLogs/").map(|at| &key[at + 1..])
}

/// The part of a path from its last `AWSLogs` component on, as a key.
fn path_tail(path: &Path) -> Option<String> {
    let parts: Vec<&str> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => part.to_str(),
            _ => None,
        })
        .collect();
    let at = parts.iter().rposition(|part| *part == AWS_LOGS)?;
    Some(parts[at..].join("/"))
}

/// Whether a key (or a part of one) could lead out of the copy: a key is
/// a digest's word, which a hostile copy chooses (S3 keys may hold `..`;
/// CloudTrail's never do, so such an object is simply not in the copy).
fn leaves_the_copy(key: &str) -> bool {
    key.split('/').any(|part| matches!(part, "" | "." | ".."))
}

/// Whether a file name is a digest's.
fn is_digest_name(name: &str) -> bool {
    name.contains("_CloudTrail-Digest_") && name.ends_with(".json.gz")
}

impl LocalDigests {
    /// Walks `roots` for digest files and reads each (they are small) to
    /// learn where it claims to be and the signature of the digest before
    /// it. Returns the store and the digests found, in path order; a file
    /// named as a digest that does not read as one is among them, placed
    /// as the others are, for the verifier to report.
    pub fn open(roots: &[PathBuf]) -> io::Result<(LocalDigests, Vec<LocalDigest>)> {
        let mut bases = Vec::new();
        let mut files = Vec::new();
        for root in roots {
            let root = fs::canonicalize(root)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", root.display())))?;
            // A root inside AWSLogs/ (a digest folder, say): its logs are
            // beside it, under the folder that holds AWSLogs/.
            let mut ancestors = root.ancestors();
            if let Some(base) = ancestors
                .find(|dir| dir.file_name().is_some_and(|n| n == AWS_LOGS))
                .and_then(Path::parent)
            {
                bases.push(base.to_path_buf());
            }
            walk(&root, &mut bases, &mut files)?;
        }
        bases.sort();
        bases.dedup();
        files.sort();
        files.dedup();

        let mut store = LocalDigests {
            bases,
            by_name: HashMap::new(),
            digests: HashMap::new(),
            signatures: HashMap::new(),
        };
        if store.bases.is_empty() {
            // No AWSLogs/ layout: logs are found by their file names.
            for root in roots {
                index_names(root, &mut store.by_name)?;
            }
        }

        let mut found = Vec::new();
        let mut unreadable = Vec::new();
        for path in files {
            let at = Location::new("", path.display().to_string());
            let Some(parsed) = File::open(&path)
                .ok()
                .and_then(|file| read_capped(Box::new(file)).ok())
                .and_then(|bytes| file::parse(&at, &bytes).ok())
            else {
                unreadable.push(path);
                continue;
            };
            let digest = parsed.digest;
            if let (Some(key), Some(signature)) = (
                &digest.previous_digest_s3_object,
                &digest.previous_digest_signature,
            ) {
                let previous = tail(key).unwrap_or(key).to_string();
                store.signatures.entry(previous).or_insert_with(|| {
                    BTreeMap::from([
                        ("signature".to_string(), signature.clone()),
                        (
                            "signature-algorithm".to_string(),
                            digest.digest_signature_algorithm.clone(),
                        ),
                    ])
                });
            }
            // The place verified: the digest's bucket and prefix, and the
            // file's own place from AWSLogs/ on (its name in a flat copy),
            // so that a file copied over another is in the wrong place.
            let claimed = &digest.digest_s3_object;
            let claimed_tail = tail(claimed).unwrap_or(claimed);
            let prefix = &claimed[..claimed.len() - claimed_tail.len()];
            let key = match path_tail(&path) {
                Some(own) => format!("{prefix}{own}"),
                None => {
                    let dir = claimed.rsplit_once('/').map_or("", |(dir, _)| dir);
                    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    if dir.is_empty() {
                        name.to_string()
                    } else {
                        format!("{dir}/{name}")
                    }
                }
            };
            found.push(LocalDigest {
                at: Location::new(&digest.digest_s3_bucket, key),
                path,
                signed: false,
            });
        }
        for digest in &mut found {
            digest.signed = store.metadata_of(&digest.at.key, &digest.path).is_some();
        }
        // Not digests: placed in the bucket the others name (the copy's
        // own word being lost), to be verified, and found, unreadable.
        let bucket = found
            .first()
            .map(|d| d.at.bucket.clone())
            .unwrap_or_default();
        for path in unreadable {
            let key = path_tail(&path).unwrap_or_else(|| path.display().to_string());
            found.push(LocalDigest {
                at: Location::new(&bucket, key),
                path,
                signed: true,
            });
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        for digest in &found {
            store
                .digests
                .insert(digest.at.key.clone(), digest.path.clone());
        }
        Ok((store, found))
    }

    /// The file of the object at `key`.
    fn file_of(&self, key: &str) -> Option<PathBuf> {
        if let Some(path) = self.digests.get(key) {
            return Some(path.clone());
        }
        if let Some(tail) = tail(key) {
            if leaves_the_copy(tail) {
                return None;
            }
            for base in &self.bases {
                let path = base.join(tail);
                if path.is_file() {
                    return Some(path);
                }
            }
        }
        let name = key
            .rsplit('/')
            .next()
            .filter(|name| !leaves_the_copy(name))?;
        self.by_name.get(name).cloned()
    }

    /// The signature metadata of the digest at `key` in `path`: its
    /// `.metadata.json`, else what a later digest repeats.
    fn metadata_of(&self, key: &str, path: &Path) -> Option<BTreeMap<String, String>> {
        let mut sidecar = path.as_os_str().to_owned();
        sidecar.push(".metadata.json");
        if let Some(metadata) = read_sidecar(Path::new(&sidecar)) {
            return Some(metadata);
        }
        self.signatures.get(tail(key).unwrap_or(key)).cloned()
    }
}

impl DigestStore for LocalDigests {
    fn get(&self, at: &Location, _version: Option<&str>) -> Result<Option<Object>, Failure> {
        let Some(path) = self.file_of(&at.key) else {
            return Ok(None);
        };
        let body = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display()).into()),
        };
        let metadata = self.metadata_of(&at.key, &path).unwrap_or_default();
        Ok(Some(Object {
            body: Box::new(io::BufReader::with_capacity(1 << 16, body)),
            metadata,
            version: None,
        }))
    }

    fn list(&self, _bucket: &str, prefix: &str) -> Result<Vec<String>, Failure> {
        let Some(folder) = tail(prefix) else {
            return Ok(Vec::new());
        };
        if leaves_the_copy(folder.trim_end_matches('/')) {
            return Ok(Vec::new());
        }
        let mut keys = Vec::new();
        for base in &self.bases {
            let dir = base.join(folder);
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
                if let Some(name) = entry.file_name().to_str() {
                    keys.push(format!("{prefix}{name}"));
                }
            }
        }
        Ok(keys)
    }
}

/// Digest files under `dir` (recursively, symlinks not followed), and the
/// folders holding an `AWSLogs/` into `bases`.
fn walk(dir: &Path, bases: &mut Vec<PathBuf>, files: &mut Vec<PathBuf>) -> io::Result<()> {
    let meta = fs::symlink_metadata(dir)?;
    if meta.is_file() {
        files.push(dir.to_path_buf());
        return Ok(());
    }
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display()))),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            let name = entry.file_name();
            let path = entry.path();
            if kind.is_dir() {
                if name == AWS_LOGS {
                    bases.push(dir.clone());
                }
                // Logs are read through the digests that list them.
                if name != "CloudTrail" && name != "CloudTrail-Insight" {
                    todo.push(path);
                }
            } else if kind.is_file() && name.to_str().is_some_and(is_digest_name) {
                files.push(path);
            }
        }
    }
    Ok(())
}

/// Every `.json.gz` file under `root` by its name.
fn index_names(root: &Path, by_name: &mut HashMap<String, PathBuf>) -> io::Result<()> {
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                todo.push(entry.path());
            } else if let Some(name) = entry.file_name().to_str() {
                if kind.is_file() && name.ends_with(".json.gz") {
                    by_name.insert(name.to_string(), entry.path());
                }
            }
        }
    }
    Ok(())
}

/// A `.metadata.json`: `aws s3api head-object` output, or its `Metadata`.
fn read_sidecar(path: &Path) -> Option<BTreeMap<String, String>> {
    let text = fs::read_to_string(path).ok()?;
    let value: Value = serde_json::from_str(&text).ok()?;
    let metadata = value.get("Metadata").unwrap_or(&value).as_object()?;
    let metadata: BTreeMap<String, String> = metadata
        .iter()
        .filter_map(|(k, v)| Some((k.to_ascii_lowercase(), v.as_str()?.to_string())))
        .collect();
    metadata.contains_key("signature").then_some(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_paths_are_matched_from_aws_logs_on() {
        assert_eq!(
            tail("p/q/AWSLogs/1/CloudTrail/x.json.gz"),
            Some("AWSLogs/1/CloudTrail/x.json.gz")
        );
        assert_eq!(tail("AWSLogs/1/x"), Some("AWSLogs/1/x"));
        assert_eq!(tail("NotAWSLogs/1/x"), None);
        assert_eq!(
            path_tail(Path::new(
                "/copy/AWSLogs/o-1/1/CloudTrail-Digest/r/d.json.gz"
            ))
            .as_deref(),
            Some("AWSLogs/o-1/1/CloudTrail-Digest/r/d.json.gz")
        );
        assert_eq!(path_tail(Path::new("/copy/flat/d.json.gz")), None);
    }

    #[test]
    fn a_key_never_leads_out_of_the_copy() {
        let dir = std::env::temp_dir().join(format!("tw-escape-{}", std::process::id()));
        let inside = dir.join("copy/AWSLogs/1/CloudTrail/r");
        fs::create_dir_all(&inside).expect("a temp dir");
        fs::write(inside.join("log.json.gz"), b"x").expect("write");
        fs::write(dir.join("secret.json.gz"), b"x").expect("write");
        let store = LocalDigests {
            bases: vec![dir.join("copy")],
            by_name: HashMap::new(),
            digests: HashMap::new(),
            signatures: HashMap::new(),
        };
        assert!(store
            .get(
                &Location::new("b", "p/AWSLogs/1/CloudTrail/r/log.json.gz"),
                None
            )
            .expect("read")
            .is_some());
        for key in [
            "AWSLogs/../secret.json.gz",
            "AWSLogs/1/CloudTrail/r/../../../../secret.json.gz",
            "AWSLogs//1/CloudTrail/r/log.json.gz",
            "AWSLogs/1/./CloudTrail/r/log.json.gz",
        ] {
            assert!(
                store
                    .get(&Location::new("b", key), None)
                    .expect("read")
                    .is_none(),
                "{key}"
            );
        }
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_sidecar_is_head_object_output_or_its_metadata() {
        let dir = std::env::temp_dir().join(format!("tw-sidecar-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("a temp dir");
        let full = dir.join("full.json");
        fs::write(
            &full,
            r#"{"ContentLength": 900, "Metadata": {"signature": "ab", "signature-algorithm": "SHA256withRSA"}}"#,
        )
        .expect("write");
        let bare = dir.join("bare.json");
        fs::write(&bare, r#"{"Signature": "cd"}"#).expect("write");
        let none = dir.join("none.json");
        fs::write(&none, r#"{"Metadata": {}}"#).expect("write");
        assert_eq!(read_sidecar(&full).expect("metadata")["signature"], "ab");
        assert_eq!(read_sidecar(&bare).expect("metadata")["signature"], "cd");
        assert_eq!(read_sidecar(&none), None);
        assert_eq!(read_sidecar(&dir.join("missing.json")), None);
        fs::remove_dir_all(&dir).ok();
    }
}
