//! The memory that part buffers may take, shared by every upload of a
//! store; a part that does not fit is buffered in a file instead.
//!
//! Buffers are kept for the next part once their part is uploaded, with
//! their share of the budget, until no part is buffered in memory: taking
//! and freeing parts of megabytes each over and over leaves the allocator's
//! heaps holding more than the budget.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of part buffers held in memory at once, store-wide.
#[derive(Clone, Debug)]
pub(super) struct Budget {
    permits: Arc<Semaphore>,
    bytes: usize,
    /// Buffers no part uses now, each with its share of the budget.
    kept: Arc<Mutex<Vec<Kept>>>,
    spill_dir: Option<PathBuf>,
}

/// A buffer no part uses, and its share of the budget.
#[derive(Debug)]
struct Kept {
    bytes: BytesMut,
    share: OwnedSemaphorePermit,
}

/// A buffer for one part, and its share of the budget. Dropped, the share
/// goes back, and the kept buffers go too when no part is buffered.
#[derive(Debug)]
pub(super) struct Memory {
    pub(super) bytes: BytesMut,
    share: Option<OwnedSemaphorePermit>,
    budget: Budget,
}

impl Drop for Memory {
    fn drop(&mut self) {
        if let Some(share) = self.share.take() {
            self.budget.give_back(None, share);
        }
    }
}

impl Budget {
    pub(super) fn new(bytes: u64) -> Self {
        let bytes = usize::try_from(bytes)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        Budget {
            permits: Arc::new(Semaphore::new(bytes)),
            bytes,
            kept: Arc::default(),
            spill_dir: None,
        }
    }

    pub(super) fn spill_to(mut self, dir: PathBuf) -> Self {
        self.spill_dir = Some(dir);
        self
    }

    /// An empty buffer for `len` bytes, if the budget has room now: one
    /// kept of that size, else a new one, making room by freeing kept
    /// buffers of other sizes.
    pub(super) fn take(&self, len: u64) -> Option<Memory> {
        let len = u32::try_from(len).ok()?;
        if len as usize > self.bytes {
            return None;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let fits =
            |k: &Kept| k.share.num_permits() == len as usize && k.bytes.capacity() >= len as usize;
        if let Some(at) = kept.iter().position(fits) {
            let Kept { bytes, share } = kept.swap_remove(at);
            return Some(Memory {
                bytes,
                share: Some(share),
                budget: self.clone(),
            });
        }
        loop {
            if let Ok(share) = self.permits.clone().try_acquire_many_owned(len) {
                return Some(Memory {
                    bytes: BytesMut::with_capacity(len as usize),
                    share: Some(share),
                    budget: self.clone(),
                });
            }
            // Dropped, its share goes back to the budget.
            kept.pop()?;
        }
    }

    /// Takes back a part's share of the budget, and its buffer when it can
    /// be used again: kept while other parts are buffered in memory; when
    /// none is, every kept buffer is freed.
    fn give_back(&self, bytes: Option<BytesMut>, share: OwnedSemaphorePermit) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let kept_bytes: usize = kept.iter().map(|k| k.share.num_permits()).sum();
        let in_parts = self.bytes - self.permits.available_permits() - kept_bytes;
        let others = in_parts - share.num_permits();
        match bytes {
            Some(mut bytes) if others > 0 => {
                bytes.clear();
                kept.push(Kept { bytes, share });
            }
            _ if others == 0 => kept.clear(),
            _ => {}
        }
    }

    /// Bytes reserved now, by parts and kept buffers.
    pub(super) fn in_use(&self) -> u64 {
        (self.bytes - self.permits.available_permits()) as u64
    }

    /// Where parts past the budget are buffered.
    pub(super) fn spill_dir(&self) -> PathBuf {
        self.spill_dir.clone().unwrap_or_else(std::env::temp_dir)
    }
}

impl Memory {
    /// The bytes as a request body, and what brings the buffer back to
    /// the budget once the body is no longer used.
    pub(super) fn lend(mut self) -> (bytes::Bytes, Lent) {
        let bytes = std::mem::take(&mut self.bytes).freeze();
        let lent = Lent {
            bytes: bytes.clone(),
            share: self.share.take(),
            budget: self.budget.clone(),
        };
        (bytes, lent)
    }
}

/// A buffer out as a request body. Dropped, the buffer goes back to the
/// budget, or only its share when a copy of the body is still around.
pub(super) struct Lent {
    bytes: bytes::Bytes,
    share: Option<OwnedSemaphorePermit>,
    budget: Budget,
}

impl Drop for Lent {
    fn drop(&mut self) {
        let Some(share) = self.share.take() else {
            return;
        };
        let bytes = std::mem::take(&mut self.bytes).try_into_mut().ok();
        self.budget.give_back(bytes, share);
    }
}
