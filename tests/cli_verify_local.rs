//! `trailwatch verify DIR` on a local copy of a trail's bucket, as `aws s3
//! sync` leaves it: the objects without their metadata. The real binary,
//! with CloudTrail's public key from a `list-public-keys` file; no AWS
//! endpoint is reached (the AWS variables point nowhere). A chain of three
//! signed hourly digests, each listing two logs, under a key prefix.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::digests::{chain_objects_under, digest_key, gzip, list_public_keys_output, log_key};
use serde_json::json;

const BUCKET: &str = "org-trail-logs";
const PREFIX: &str = "audit/";

struct Copy {
    dir: tempfile::TempDir,
    keys: tempfile::NamedTempFile,
}

/// The chain of hours 9, 10 and 11, copied to a directory (the prefix's
/// content, as `aws s3 sync s3://BUCKET/audit/ DIR` writes it).
fn copy() -> Copy {
    let dir = tempfile::tempdir().expect("a temp dir");
    for object in chain_objects_under(BUCKET, PREFIX, &[9, 10, 11]) {
        let key = object.key.strip_prefix(PREFIX).expect("under the prefix");
        let path = dir.path().join(key);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
        std::fs::write(&path, &object.body).expect("write");
    }
    let keys = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(keys.path(), list_public_keys_output()).expect("write keys");
    Copy { dir, keys }
}

impl Copy {
    fn path(&self, key: &str) -> PathBuf {
        self.dir.path().join(key)
    }

    /// `trailwatch verify ROOT --public-keys FILE --quiet ARGS...`.
    fn verify_at(&self, root: &Path, args: &[&str]) -> Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_trailwatch"))
            .arg("verify")
            .arg(root)
            .arg("--public-keys")
            .arg(self.keys.path())
            .arg("--quiet")
            .args(args)
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env_remove("AWS_PROFILE")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("run trailwatch")
    }

    fn verify(&self, args: &[&str]) -> Output {
        self.verify_at(self.dir.path(), args)
    }

    /// The newest digest's signature saved beside it as `aws s3api
    /// head-object` prints it.
    fn save_newest_signature(&self, signature: &str) {
        let mut sidecar = self.path(&digest_key(11)).into_os_string();
        sidecar.push(".metadata.json");
        let head = json!({
            "AcceptRanges": "bytes",
            "ContentLength": 900,
            "ContentType": "application/json",
            "Metadata": {"signature": signature, "signature-algorithm": "SHA256withRSA"},
        });
        std::fs::write(sidecar, head.to_string()).expect("write the metadata");
    }
}

fn newest_signature() -> String {
    chain_objects_under(BUCKET, PREFIX, &[9, 10, 11])
        .into_iter()
        .find(|o| o.key == format!("{PREFIX}{}", digest_key(11)))
        .and_then(|o| o.signature)
        .expect("the digest's signature")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_copy_verifies_but_for_its_newest_digest_which_needs_its_signature() {
    let copy = copy();
    let output = copy.verify(&[]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(stdout, "", "no alert: nothing is wrong");
    assert!(
        stderr.contains("2 digest(s) verified, 4 log(s) checked, 0 problem(s), 1 not verifiable"),
        "{stderr}"
    );
    let newest = copy.path(&digest_key(11));
    assert!(
        stderr.contains(&format!(
            "{}: not verifiable: no later digest in the copy repeats its signature",
            newest.display()
        )) && stderr.contains(&format!(
            "aws s3api head-object --bucket {BUCKET} --key {PREFIX}{}",
            digest_key(11)
        )) && stderr.contains(".metadata.json"),
        "{stderr}"
    );

    copy.save_newest_signature(&newest_signature());
    let output = copy.verify(&[]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("3 digest(s) verified, 6 log(s) checked, 0 problem(s), 0 not verifiable"),
        "{stderr}"
    );
}

#[test]
fn a_deleted_or_edited_log_in_the_copy_is_an_alert() {
    let copy = copy();
    copy.save_newest_signature(&newest_signature());
    std::fs::remove_file(copy.path(&log_key(10, 2))).expect("delete");
    std::fs::write(copy.path(&log_key(11, 1)), gzip(b"{\"Records\":[]}")).expect("edit");
    let output = copy.verify(&[]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("CloudTrail Log File Deleted"), "{stdout}");
    assert!(stdout.contains("CloudTrail Log File Changed"), "{stdout}");
    // Alerts name the objects as they were in S3.
    assert!(
        stdout.contains(&format!("s3://{BUCKET}/{PREFIX}{}", log_key(10, 2))),
        "{stdout}"
    );
    assert!(
        stderr.contains("3 digest(s) verified, 5 log(s) checked, 2 problem(s)"),
        "{stderr}"
    );
}

#[test]
fn an_edited_digest_or_a_forged_signature_does_not_verify() {
    let copy = copy();
    // Hour 10's digest with a log's hash changed, gzipped again: its own
    // signature (repeated by hour 11's) fails, and hour 11's link to it.
    let path = copy.path(&digest_key(10));
    let bytes = std::fs::read(&path).expect("read");
    let mut json = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut json)
        .expect("inflate");
    let log = log_key(10, 1);
    let edited = json.replacen(
        &format!("{log}\",\"hashValue\":\""),
        &format!("{log}\",\"hashValue\":\"0"),
        1,
    );
    assert_ne!(edited, json);
    std::fs::write(&path, gzip(edited.as_bytes())).expect("write");
    // And the newest digest's saved signature is not CloudTrail's.
    let mut forged = newest_signature();
    forged.replace_range(0..2, if forged.starts_with("00") { "01" } else { "00" });
    copy.save_newest_signature(&forged);

    let output = copy.verify(&[]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    let unsigned = stdout
        .matches("CloudTrail Digest File Not Signed By CloudTrail")
        .count();
    assert_eq!(unsigned, 2, "hours 10 and 11: {stdout}");
    assert!(stdout.contains(&digest_key(10)), "{stdout}");
    assert!(
        stderr.contains("3 digest(s) verified, 2 log(s) checked, 2 problem(s)"),
        "{stderr}"
    );
}

#[test]
fn a_digest_folder_alone_or_a_flat_folder_finds_the_logs() {
    let copy = copy();
    copy.save_newest_signature(&newest_signature());
    // The digest folder: the logs are found beside it.
    let digests = copy.path(&digest_key(9));
    let folder = digests.parent().expect("a folder");
    let output = copy.verify_at(folder, &[]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("3 digest(s) verified, 6 log(s) checked, 0 problem(s)"),
        "{stderr}"
    );

    // Every file in one folder: logs are found by their names.
    let flat = tempfile::tempdir().expect("a temp dir");
    for entry in walk(copy.dir.path()) {
        let name = entry.file_name().expect("a name");
        std::fs::copy(&entry, flat.path().join(name)).expect("copy");
    }
    let output = copy.verify_at(flat.path(), &[]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("3 digest(s) verified, 6 log(s) checked, 0 problem(s)"),
        "{stderr}"
    );
}

#[test]
fn a_digest_copied_over_another_is_in_the_wrong_place_and_breaks_the_chain() {
    let copy = copy();
    copy.save_newest_signature(&newest_signature());
    std::fs::copy(copy.path(&digest_key(9)), copy.path(&digest_key(10))).expect("copy");
    let output = copy.verify(&[]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("CloudTrail Digest File Copied From Another Place"),
        "{stdout}"
    );
    assert!(
        stdout.contains("CloudTrail Digest Chain Broken"),
        "{stdout}"
    );
    // The hour's digest is there, though not CloudTrail's: no hours are
    // missing. Hour 9's signature was repeated only by the digest
    // overwritten, so it cannot be verified.
    assert!(
        !stdout.contains("CloudTrail Digest Hours Missing"),
        "{stdout}"
    );
    assert!(
        stderr.contains("2 digest(s) verified, 2 log(s) checked, 2 problem(s), 1 not verifiable"),
        "{stderr}"
    );
}

#[test]
fn s3_and_local_roots_together_are_a_usage_error() {
    let copy = copy();
    let output = copy.verify_at(Path::new("s3://bucket/prefix"), &["/nonexistent"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("not both"),
        "{}",
        text(&output.stderr)
    );
    let output = copy.verify_at(Path::new("/nonexistent/copy"), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("/nonexistent/copy: no such file or directory"),
        "{}",
        text(&output.stderr)
    );
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}
