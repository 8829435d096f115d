//! The README's configuration reference names every settings key the code accepts, and only
//! those: a key added, renamed or removed in code fails here until the README follows.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::BTreeSet;

/// Every key of the settings, as `key` or `section.key`, from the defaults' serialisation.
fn keys_in_code() -> BTreeSet<String> {
    let defaults = serde_json::to_value(confvault::config::Config::default()).unwrap();
    let mut keys = BTreeSet::new();
    for (key, value) in defaults.as_object().unwrap() {
        match value.as_object() {
            Some(section) => keys.extend(section.keys().map(|k| format!("{key}.{k}"))),
            None => {
                keys.insert(key.clone());
            }
        }
    }
    keys
}

/// The keys in the first column of the README's configuration table. A cell may list several
/// keys of one section: `` `storage.bucket`, `endpoint` `` or `` `jobs.a` / `b` ``.
fn keys_in_readme() -> BTreeSet<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme
        .split("## Configuration")
        .nth(1)
        .expect("a Configuration section")
        .split("\n## ")
        .next()
        .unwrap();
    let mut keys = BTreeSet::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cell = row.split('|').nth(1).unwrap();
        let mut section = None;
        for name in cell.split('`').skip(1).step_by(2) {
            match name.split_once('.') {
                Some((s, _)) => {
                    section = Some(s.to_owned());
                    keys.insert(name.to_owned());
                }
                None => {
                    keys.insert(match &section {
                        Some(s) => format!("{s}.{name}"),
                        None => name.to_owned(),
                    });
                }
            }
        }
    }
    keys
}

#[test]
fn the_readme_documents_every_setting_and_no_other() {
    let code = keys_in_code();
    let readme = keys_in_readme();

    let undocumented: Vec<_> = code.difference(&readme).collect();
    let unknown: Vec<_> = readme.difference(&code).collect();

    assert!(
        undocumented.is_empty(),
        "settings missing from the README's Configuration table: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "the README documents settings the code does not have: {unknown:?}"
    );
    assert!(code.len() > 60, "all sections were read: {}", code.len());
}
