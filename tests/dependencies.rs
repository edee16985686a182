//! No unmaintained TLS or HTTP stack in the binary: the AWS SDK's legacy
//! client (hyper 0.14, hyper-rustls 0.24, rustls 0.21, h2 0.3) comes with the
//! SDK crates' default `rustls` feature, which Cargo.toml turns off in favour
//! of the current client (`default-https-client`: hyper 1, rustls 0.23).

use std::path::Path;

/// (package, the first version still maintained).
const AT_LEAST: &[(&str, (u64, u64))] = &[
    ("rustls", (0, 23)),
    ("hyper", (1, 0)),
    ("hyper-rustls", (0, 27)),
    ("h2", (0, 4)),
    ("tokio-rustls", (0, 26)),
];

fn locked(lock: &str) -> Vec<(String, (u64, u64))> {
    let mut out = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(value) = line.strip_prefix("name = ") {
            name = Some(value.trim_matches('"').to_string());
        } else if let (Some(value), Some(package)) = (line.strip_prefix("version = "), name.take())
        {
            let mut parts = value
                .trim_matches('"')
                .split('.')
                .map(|p| p.parse().unwrap_or(0));
            let major = parts.next().unwrap_or(0);
            let minor = parts.next().unwrap_or(0);
            out.push((package, (major, minor)));
        }
    }
    out
}

#[test]
fn the_lock_file_holds_no_legacy_tls_or_http_stack() {
    for manifest in ["Cargo.lock", "fuzz/Cargo.lock"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(manifest);
        let lock = std::fs::read_to_string(&path).expect("lock file");
        let packages = locked(&lock);
        assert!(
            packages.iter().any(|(name, _)| name == "aws-sdk-s3"),
            "{manifest}"
        );
        let old: Vec<String> = packages
            .iter()
            .filter(|(name, version)| {
                AT_LEAST
                    .iter()
                    .any(|(package, least)| package == name && version < least)
            })
            .map(|(name, (major, minor))| format!("{name} {major}.{minor}"))
            .collect();
        assert!(old.is_empty(), "{manifest} still locks {old:?}");
        // The current stack is what the SDK uses instead.
        for (package, least) in AT_LEAST.iter().take(3) {
            assert!(
                packages
                    .iter()
                    .any(|(name, v)| name == package && v >= least),
                "{manifest}: no {package}"
            );
        }
    }
}
