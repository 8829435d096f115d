//! The download's spool: network chunks batched, written to disk with one vectored write per
//! batch, and hashed on a thread of their own.

use sha2::{Digest, Sha256};

/// Bytes handed to the spool thread at a time.
const SPOOL_BATCH_BYTES: usize = 1 << 20;
/// Chunks handed over at most at a time, whatever their size: a server sending tiny chunks
/// cannot make a batch's bookkeeping grow, and one `writev` takes them all (`IOV_MAX`).
const SPOOL_BATCH_CHUNKS: usize = 1024;

/// Batches queued between the network, the disk and the hash: bounds memory to a few MiB
/// while absorbing jitter on either side.
pub(super) const SPOOL_QUEUE_BATCHES: usize = 4;

/// Network chunks as received, handed over together. They are not copied into one buffer:
/// at a GiB, that copy and the fresh pages it touched cost more than writing the chunks with
/// one vectored write.
#[derive(Clone, Default)]
pub(super) struct Batch {
    chunks: Vec<bytes::Bytes>,
    len: usize,
}

impl Batch {
    pub(super) fn push(&mut self, chunk: bytes::Bytes) {
        self.len += chunk.len();
        self.chunks.push(chunk);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    pub(super) fn is_full(&self) -> bool {
        self.len >= SPOOL_BATCH_BYTES || self.chunks.len() >= SPOOL_BATCH_CHUNKS
    }

    fn write_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let mut slices: Vec<std::io::IoSlice<'_>> = self
            .chunks
            .iter()
            .map(|c| std::io::IoSlice::new(c))
            .collect();
        let mut unwritten = &mut slices[..];
        while !unwritten.is_empty() {
            match out.write_vectored(unwritten) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => std::io::IoSlice::advance_slices(&mut unwritten, n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Writes and hashes what arrives until the sender is dropped; returns the SHA-256 in hex.
/// Hashing has a thread of its own (batches are shared, not copied), so the disk and the hash
/// each take their time side by side. Not fsynced: the spool file is an intermediate, and a
/// run that reuses it after a crash checks its SHA-256 first; forcing a large file to disk here
/// would double the time.
pub(super) fn spool(
    mut file: std::fs::File,
    mut received: tokio::sync::mpsc::Receiver<Batch>,
) -> std::io::Result<String> {
    let (to_hasher, for_hasher) = std::sync::mpsc::sync_channel::<Batch>(SPOOL_QUEUE_BATCHES);
    let hasher = std::thread::Builder::new()
        .name("spool-sha256".into())
        .spawn(move || {
            let mut hasher = Sha256::new();
            for batch in for_hasher {
                for chunk in &batch.chunks {
                    hasher.update(chunk);
                }
            }
            hex::encode(hasher.finalize())
        })?;
    let written = (|| {
        while let Some(batch) = received.blocking_recv() {
            // The hasher only stops when this sender is dropped, so sending cannot fail.
            let _ = to_hasher.send(batch.clone());
            batch.write_to(&mut file)?;
        }
        Ok(())
    })();
    drop(to_hasher);
    let sha256 = hasher
        .join()
        .map_err(|_| std::io::Error::other("the SHA-256 thread panicked"))?;
    written.map(|()| sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most a few bytes per call, as a disk or pipe may.
    struct Trickle(Vec<u8>);

    impl std::io::Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = buf.len().min(3);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_batch_is_written_whole_and_in_order_even_by_short_writes() {
        let mut batch = Batch::default();
        for chunk in ["ab", "", "cdefg", "h", "ijklmnopq"] {
            batch.push(bytes::Bytes::from_static(chunk.as_bytes()));
        }
        let mut out = Trickle(Vec::new());

        batch.write_to(&mut out).unwrap();

        assert_eq!(out.0, b"abcdefghijklmnopq");
        assert_eq!(batch.len, 17);
    }

    #[test]
    fn a_batch_is_handed_over_at_a_mebibyte_or_at_a_thousand_tiny_chunks() {
        let mut big = Batch::default();
        big.push(bytes::Bytes::from(vec![0; SPOOL_BATCH_BYTES - 1]));
        assert!(!big.is_full());
        big.push(bytes::Bytes::from_static(b"x"));
        assert!(big.is_full());

        let mut tiny = Batch::default();
        for _ in 0..SPOOL_BATCH_CHUNKS - 1 {
            tiny.push(bytes::Bytes::from_static(b"x"));
        }
        assert!(!tiny.is_full());
        tiny.push(bytes::Bytes::from_static(b"x"));
        assert!(tiny.is_full());
    }
}
