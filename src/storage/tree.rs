//! The local-directory store's listing: its tree walked a page at a time, in a stable order,
//! each page resuming after the last key of the one before, so that no listing holds more than a
//! page of keys (and the directories on the way to it) whatever the archive's size.
//!
//! The order compares keys a path component at a time, by bytes (`a/b` before `a-c`), which is
//! the order a walk of sorted directories meets them in.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

/// Keys a page holds at most, as an S3 listing does.
pub const PAGE: usize = 1000;

/// Why a walk stopped short.
#[derive(Debug, thiserror::Error)]
#[error("listing {}: {source}", path.display())]
pub struct WalkError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Up to `limit` keys under `root` that start with `prefix` and come after `after`, in order.
/// Names starting with a dot (temporary files, probes) and names that are not UTF-8 are left out.
pub fn page(
    root: &Path,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<String>, WalkError> {
    let mut keys = Vec::new();
    walk(root, "", prefix, after, limit, &mut keys)?;
    Ok(keys)
}

fn walk(
    dir: &Path,
    dir_key: &str,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
    keys: &mut Vec<String>,
) -> Result<(), WalkError> {
    let failed = |source| WalkError {
        path: dir.to_owned(),
        source,
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(failed)? {
        let entry = entry.map_err(failed)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !name.starts_with('.') {
            let is_dir = entry.file_type().map_err(failed)?.is_dir();
            entries.push((name, is_dir));
        }
    }
    entries.sort_unstable();
    for (name, is_dir) in entries {
        if keys.len() >= limit {
            return Ok(());
        }
        let key = match dir_key {
            "" => name.clone(),
            _ => format!("{dir_key}/{name}"),
        };
        if is_dir {
            // Only a directory on the way to the prefix, or inside it, can hold matches.
            let toward_prefix = prefix.starts_with(&format!("{key}/")) || key.starts_with(prefix);
            let resume = match after {
                None => Some(None),
                Some(after) => match compare(&key, after) {
                    _ if after.starts_with(&format!("{key}/")) => Some(Some(after)),
                    Ordering::Greater => Some(None),
                    _ => None,
                },
            };
            if let (true, Some(after)) = (toward_prefix, resume) {
                walk(&dir.join(&name), &key, prefix, after, limit, keys)?;
            }
        } else if key.starts_with(prefix) && after.is_none_or(|a| compare(&key, a).is_gt()) {
            keys.push(key);
        }
    }
    Ok(())
}

/// Keys compared a component at a time, as the walk meets them.
fn compare(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        dir
    }

    /// Every key, fetched `limit` at a time as a rebuild fetches them.
    fn in_pages(root: &Path, prefix: &str, limit: usize) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let keys = page(root, prefix, after.as_deref(), limit).unwrap();
            let full = keys.len() == limit;
            after = keys.last().cloned();
            pages.push(keys);
            if !full {
                return pages;
            }
        }
    }

    #[test]
    fn pages_resume_after_their_last_key_and_name_every_key_once_in_order() {
        let files = [
            "calls/2025/12/31/Board/r1.json",
            "calls/2026/01/01/Board/r2.json",
            "calls/2026/01/01/Board/r2.mp3",
            "calls/2026/01/01/Board-2/r3.json",
            "calls/2026/01/02/unlinked/r4.json",
            "calls/top.json",
        ];
        let dir = tree(&files);

        let pages = in_pages(dir.path(), "", 2);

        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2, 0]);
        assert_eq!(pages.concat(), files, "Board/ comes before Board-2/");
    }

    #[test]
    fn only_keys_under_the_prefix_are_listed_and_dot_files_never() {
        let dir = tree(&[
            "calls/2026/a.json",
            "calls/2026/.a.json.tmp-1",
            ".confvault-probe-1",
            "callsign/b.json",
            "other/c.json",
        ]);

        let keys = page(dir.path(), "calls/", None, PAGE).unwrap();

        assert_eq!(keys, ["calls/2026/a.json"]);
    }

    #[test]
    fn an_archive_directory_that_is_gone_is_an_error_not_an_empty_archive() {
        let dir = tempfile::tempdir().unwrap();

        let listed = page(&dir.path().join("archive"), "", None, PAGE);

        assert!(listed.is_err_and(|e| e.path.ends_with("archive")));
    }
}
