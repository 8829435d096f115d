//! The local-directory store, the embedded default. A file is written under a temporary name,
//! fsynced, then renamed, so a half-written file never carries the final name.

use crate::failure::Failure;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::{FileUpload, ObjectInfo, ProgressSink, Store, StoreError, UploadProgress};

pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    pub fn new(root: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&root)?;
        Ok(Self {
            root: root.canonicalize()?,
        })
    }

    /// The file for `key`; keys are already clean, and this refuses any that is not.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        let relative = Path::new(key);
        let clean = relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if key.is_empty() || !clean {
            return Err(StoreError::Permanent(
                format!("unsafe object key {key:?}").into(),
            ));
        }
        Ok(self.root.join(relative))
    }
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    // A full or read-only disk may be fixed by an operator; retrying is right.
    StoreError::Retryable(Failure::caused_by(format!("{what} {}", path.display()), e))
}

/// Writes `fill` into a temp file beside `dest`, fsyncs it, renames it over `dest` and fsyncs
/// the directory, so that the new name is durable too.
fn write_atomically(
    dest: &Path,
    fill: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), StoreError> {
    let dir = dest
        .parent()
        .ok_or_else(|| StoreError::Permanent("key has no directory".into()))?;
    std::fs::create_dir_all(dir).map_err(|e| io_error("creating", dir, e))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        dest.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("object"),
        rand::random::<u32>()
    ));
    let result = fill(&tmp)
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, dest))
        .and_then(|()| std::fs::File::open(dir)?.sync_all());
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error("writing", dest, e));
    }
    Ok(())
}

/// The key of the file at `path` under `root`: its components joined by `/`; `None` for a
/// name that is not UTF-8, which no key renders to.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Retryable(Failure::caused_by("storage task failed", e)))?
}

#[async_trait]
impl Store for FsStore {
    fn location(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        let path = self.path_of(key)?;
        blocking(move || {
            let mut file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_error("opening", &path, e)),
            };
            // A directory has no checksum beside the file, so it is computed; this runs only
            // when a recording is archived again.
            let mut hasher = Sha256::new();
            let mut buf = vec![0; 1 << 20];
            let mut size = 0u64;
            loop {
                let n = file
                    .read(&mut buf)
                    .map_err(|e| io_error("reading", &path, e))?;
                if n == 0 {
                    break;
                }
                size += n as u64;
                hasher.update(&buf[..n]);
            }
            Ok(Some(ObjectInfo {
                size,
                sha256: Some(hex::encode(hasher.finalize())),
            }))
        })
        .await
    }

    async fn put_file(
        &self,
        upload: &FileUpload<'_>,
        _resume: Option<UploadProgress>,
        _progress: &dyn ProgressSink,
    ) -> Result<(), StoreError> {
        let dest = self.path_of(upload.key)?;
        let source = upload.path.to_owned();
        blocking(move || {
            write_atomically(&dest, |tmp| {
                // A hard link costs nothing on the same file system; otherwise copy.
                std::fs::hard_link(&source, tmp)
                    .or_else(|_| std::fs::copy(&source, tmp).map(|_| ()))
            })
        })
        .await
    }

    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        _content_type: &str,
    ) -> Result<(), StoreError> {
        let dest = self.path_of(key)?;
        blocking(move || write_atomically(&dest, |tmp| std::fs::write(tmp, &bytes))).await
    }

    async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path_of(key)?;
        blocking(move || match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("reading", &path, e)),
        })
        .await
    }

    async fn digest(&self, key: &str) -> Result<Option<super::ObjectDigest>, StoreError> {
        // A directory's head already reads the file whole to hash it.
        Ok(self.head(key).await?.map(|info| super::ObjectDigest {
            size: info.size,
            sha256: info.sha256.unwrap_or_default(),
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        blocking(move || match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("deleting", &path, e)),
        })
        .await
    }

    /// The whole listing in one page: a directory is walked in one go, and sorted.
    async fn list(&self, prefix: &str, page: Option<String>) -> Result<super::KeyPage, StoreError> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        blocking(move || {
            let keys = super::tree::page(&root, &prefix, page.as_deref(), super::tree::PAGE)
                .map_err(|e| io_error("listing", &e.path, e.source))?;
            // A full page may have more after it; the next one, empty, says there is not.
            let next = (keys.len() == super::tree::PAGE)
                .then(|| keys.last().cloned())
                .flatten();
            Ok(super::KeyPage { keys, next })
        })
        .await
    }

    async fn probe(&self) -> Result<(), StoreError> {
        let probe = self
            .root
            .join(format!(".confvault-probe-{:08x}", rand::random::<u32>()));
        blocking(move || {
            std::fs::write(&probe, b"probe").map_err(|e| io_error("writing", &probe, e))?;
            std::fs::remove_file(&probe).map_err(|e| io_error("removing", &probe, e))
        })
        .await
    }

    async fn abort_upload(&self, _progress: &UploadProgress) -> Result<(), StoreError> {
        Ok(())
    }

    async fn playback(&self, key: &str) -> Result<super::Playback, StoreError> {
        Ok(super::Playback::File(self.path_of(key)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoProgress;

    #[async_trait]
    impl ProgressSink for NoProgress {
        async fn save(&self, _: Option<&UploadProgress>) -> Result<(), StoreError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_stored_file_reads_back_with_its_checksum_and_no_temp_files_remain() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path().join("archive")).unwrap();
        let source = dir.path().join("spool.mp3");
        std::fs::write(&source, b"ID3 not really audio").unwrap();
        let upload = FileUpload {
            key: "2026/05/19/Standup/c-r.mp3",
            path: &source,
            size: 20,
            sha256: "",
            content_type: "audio/mpeg",
        };
        store.put_file(&upload, None, &NoProgress).await.unwrap();
        let info = store.head(upload.key).await.unwrap().unwrap();
        assert_eq!(info.size, 20);
        assert_eq!(
            info.sha256.unwrap(),
            hex::encode(Sha256::digest(b"ID3 not really audio"))
        );
        let entries: Vec<_> = std::fs::read_dir(dir.path().join("archive/2026/05/19/Standup"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(entries, vec!["c-r.mp3".to_owned()]);
    }

    #[tokio::test]
    async fn a_listing_names_every_object_under_the_prefix_in_key_order_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path().join("archive")).unwrap();
        for key in [
            "calls/2026/b.json",
            "calls/2026/a.mp3",
            "calls/2025/z.json",
            "other/x.json",
        ] {
            store
                .put_bytes(key, b"{}".to_vec(), "application/json")
                .await
                .unwrap();
        }
        std::fs::write(dir.path().join("archive/calls/2026/.b.json.tmp-1"), b"half").unwrap();

        let page = store.list("calls/", None).await.unwrap();

        assert_eq!(
            page.keys,
            ["calls/2025/z.json", "calls/2026/a.mp3", "calls/2026/b.json"]
        );
        assert_eq!(page.next, None);
        assert_eq!(store.list("", None).await.unwrap().keys.len(), 4);
    }

    #[tokio::test]
    async fn keys_that_would_leave_the_archive_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path().to_owned()).unwrap();
        for key in ["../x", "/etc/passwd", "a/../../x", ""] {
            assert!(
                matches!(store.path_of(key), Err(StoreError::Permanent(_))),
                "{key}"
            );
        }
        assert_eq!(store.head("missing.mp3").await.unwrap(), None);
        assert_eq!(store.get_bytes("missing.json").await.unwrap(), None);
    }
}
