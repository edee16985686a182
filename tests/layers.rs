//! The layers of `src/`, as the README's "Layout" draws them: generic JSON
//! below the CloudTrail record, the record below the rules, the rules below
//! alerts, the pipeline and the adapters. Read from the code's own paths
//! (`crate::…`, `super::…`) outside its tests: no layer reaches up, no two
//! top-level modules import each other in a circle, and no two files of one
//! folder do.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each lower layer may use of the crate: nothing above it.
const ALLOWED: [(&str, &[&str]); 3] = [("json", &[]), ("record", &["json"]), ("digest", &[])];

/// The source files under `src/`, without their tests, by path.
fn sources() -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    let mut pending = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                let text = std::fs::read_to_string(&path).expect("a source file");
                // The unit tests come last; fixtures they use may reach up.
                // Comments name other modules without using them.
                let code: Vec<&str> = text
                    .split("#[cfg(test)]\nmod tests")
                    .next()
                    .unwrap_or_default()
                    .lines()
                    .filter(|line| !line.trim_start().starts_with("//"))
                    .collect();
                files.insert(path, code.join("\n"));
            }
        }
    }
    files
}

/// The module path of a file under `src/`: `["record", "head"]`.
fn module_of(path: &Path) -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let relative = path.strip_prefix(&root).expect("under src/");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The crate paths a file names, in `use` groups and inline, made absolute:
/// `crate::json::walk::Walk`, `super::strict::Key` in `json/value.rs`.
fn paths_in(code: &str, module: &[String], is_mod: bool) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    // `use a::{b, c::{d}};` groups spelled out.
    fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
        let tree = tree.trim();
        match tree.find('{') {
            None => out.push(format!("{prefix}{tree}")),
            Some(open) => {
                let head = &tree[..open];
                let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
                let mut depth = 0;
                let mut start = 0;
                for (i, c) in inner.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            expand(&format!("{prefix}{head}"), &inner[start..i], out);
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                expand(&format!("{prefix}{head}"), &inner[start..], out);
            }
        }
    }
    let mut spelled = Vec::new();
    let mut lines = code.lines();
    while let Some(line) = lines.next() {
        let line = line.trim_start();
        let Some(rest) = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .find_map(|start| line.strip_prefix(start))
        else {
            continue;
        };
        let mut statement = rest.to_string();
        while !statement.contains(';') {
            let Some(more) = lines.next() else { break };
            statement.push_str(more);
        }
        let statement = statement.split(';').next().unwrap_or_default();
        expand("", statement, &mut spelled);
    }
    // Inline paths: `crate::x::y` and `super::x` anywhere in the code.
    for word in code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
        if word.starts_with("crate::") || word.starts_with("super::") {
            spelled.push(word.to_string());
        }
    }
    for path in spelled {
        let parts: Vec<&str> = path
            .split("::")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let mut absolute: Vec<String> = Vec::new();
        match parts.first() {
            Some(&"crate") => {}
            Some(&"super") => {
                // `super` of `json/value.rs` is `json`; of `json/mod.rs`, the crate.
                absolute = module.to_vec();
                let supers = parts.iter().take_while(|p| **p == "super").count();
                let up = if is_mod { supers + 1 } else { supers };
                absolute.truncate(absolute.len().saturating_sub(up));
                absolute.extend(parts.iter().skip(supers).map(|p| p.to_string()));
                found.push(absolute);
                continue;
            }
            _ => continue,
        }
        absolute.extend(parts.iter().skip(1).map(|p| p.to_string()));
        found.push(absolute);
    }
    found
}

/// Whether the directed graph has a cycle; the first one found.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            return Some(path[at..].to_vec());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_layer_reaches_up_and_nothing_imports_in_a_circle() {
    let files = sources();
    assert!(files.len() > 50, "{} source files", files.len());
    let modules: BTreeSet<Vec<String>> = files.keys().map(|path| module_of(path)).collect();
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut within: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut reaching_up = Vec::new();
    for (path, code) in &files {
        let module = module_of(path);
        let is_mod = path
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs" || n == "main.rs");
        let Some(own_top) = module.first() else {
            continue;
        };
        for used in paths_in(code, &module, is_mod) {
            let Some(used_top) = used.first() else {
                continue;
            };
            if !modules.iter().any(|m| m.first() == Some(used_top)) || used_top == own_top {
                // Within one top-level module: between two of its files,
                // neither a folder's mod.rs (which declares the others).
                let file = (1..=used.len())
                    .rev()
                    .map(|n| used[..n].to_vec())
                    .find(|prefix| modules.contains(prefix));
                if let Some(file) = file {
                    let (from, to) = (module.join("::"), file.join("::"));
                    let parent_of =
                        |a: &Vec<String>, b: &Vec<String>| b.starts_with(a) || a.starts_with(b);
                    if used_top == own_top && from != to && !parent_of(&module, &file) {
                        within.entry(from).or_default().insert(to);
                    }
                }
                continue;
            }
            top.entry(own_top.clone())
                .or_default()
                .insert(used_top.clone());
            if let Some((_, allowed)) = ALLOWED.iter().find(|(layer, _)| layer == own_top) {
                if !allowed.contains(&used_top.as_str()) {
                    reaching_up.push(format!(
                        "{} uses crate::{}",
                        path.display(),
                        used.join("::")
                    ));
                }
            }
        }
    }
    assert!(
        reaching_up.is_empty(),
        "a lower layer reaches up:\n{}",
        reaching_up.join("\n")
    );
    assert!(
        top.get("rules").is_some_and(|used| used.contains("record"))
            && top.get("record").is_some_and(|used| used.contains("json")),
        "the layers were not read: {top:?}"
    );
    assert_eq!(
        cycle(&top),
        None,
        "top-level modules import each other in a circle"
    );
    assert_eq!(cycle(&within), None, "files import each other in a circle");
}
