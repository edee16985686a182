//! Log files on the local file system: files, directories (recursive) and
//! `-` for standard input.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::object::ObjectKind;

/// One thing to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Stdin => f.write_str("<stdin>"),
            Input::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The result of expanding the command line's paths.
#[derive(Debug, Default)]
pub struct Expanded {
    pub inputs: Vec<Input>,
    /// Files found in directories but skipped on purpose (digests, empty).
    pub skipped: Vec<(PathBuf, ObjectKind)>,
    /// Paths that could not be read.
    pub errors: Vec<(PathBuf, io::Error)>,
}

/// Whether a file found while walking a directory looks like a log: CloudTrail
/// writes `.json.gz`. (Plain `.json` files are read when named on the command
/// line; in a directory they are as likely to be notifications or configs.)
fn is_log_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.ends_with(".json.gz")
}

pub fn expand(paths: &[PathBuf]) -> Expanded {
    let mut out = Expanded::default();
    for path in paths {
        if path.as_os_str() == "-" {
            out.inputs.push(Input::Stdin);
        } else if path.is_dir() {
            walk(path, &mut out);
        } else {
            out.inputs.push(Input::File(path.clone()));
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Expanded) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => return out.errors.push((dir.to_path_buf(), err)),
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => paths.push(entry.path()),
            Err(err) => out.errors.push((dir.to_path_buf(), err)),
        }
    }
    paths.sort();
    for path in paths {
        if path.is_dir() {
            walk(&path, out);
            continue;
        }
        if !is_log_name(&path) {
            continue;
        }
        let size = std::fs::metadata(&path).ok().map(|m| m.len());
        let kind = ObjectKind::of(&path.to_string_lossy(), size);
        if kind.is_readable() {
            out.inputs.push(Input::File(path));
        } else {
            out.skipped.push((path, kind));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_walked_in_order_and_digests_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let digest = root.join("AWSLogs/1/CloudTrail-Digest/us-east-1");
        let logs = root.join("AWSLogs/1/CloudTrail/us-east-1");
        std::fs::create_dir_all(&digest).expect("mkdir");
        std::fs::create_dir_all(&logs).expect("mkdir");
        for (path, body) in [
            (logs.join("c.json.gz"), "x"),
            (logs.join("a.json"), "x"),
            (logs.join("b.json.gz"), "x"),
            (logs.join("empty.json.gz"), ""),
            (logs.join("notes.txt"), "x"),
            (digest.join("d.json.gz"), "x"),
        ] {
            std::fs::write(path, body).expect("write");
        }
        let found = expand(&[root.to_path_buf(), PathBuf::from("-")]);
        assert_eq!(
            found.inputs,
            [
                Input::File(logs.join("b.json.gz")),
                Input::File(logs.join("c.json.gz")),
                Input::Stdin
            ]
        );
        let skipped: Vec<ObjectKind> = found.skipped.iter().map(|(_, k)| *k).collect();
        assert_eq!(skipped, [ObjectKind::Empty, ObjectKind::Digest]);
        assert!(found.errors.is_empty());
    }
}
