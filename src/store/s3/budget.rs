//! The memory that part buffers may take, shared by every upload of a
//! store; a part that does not fit is buffered in a file instead.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of part buffers held in memory at once, store-wide.
#[derive(Clone, Debug)]
pub(super) struct Budget {
    permits: Arc<Semaphore>,
    bytes: usize,
    spill_dir: Option<PathBuf>,
}

impl Budget {
    pub(super) fn new(bytes: u64) -> Self {
        let bytes = usize::try_from(bytes)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        Budget {
            permits: Arc::new(Semaphore::new(bytes)),
            bytes,
            spill_dir: None,
        }
    }

    pub(super) fn spill_to(mut self, dir: PathBuf) -> Self {
        self.spill_dir = Some(dir);
        self
    }

    /// Memory for a buffer of `len` bytes, if the budget has it now.
    pub(super) fn try_reserve(&self, len: u64) -> Option<OwnedSemaphorePermit> {
        let len = u32::try_from(len).ok()?;
        if len as usize > self.bytes {
            return None;
        }
        self.permits.clone().try_acquire_many_owned(len).ok()
    }

    /// Bytes reserved now.
    pub(super) fn in_use(&self) -> u64 {
        (self.bytes - self.permits.available_permits()) as u64
    }

    /// Where parts past the budget are buffered.
    pub(super) fn spill_dir(&self) -> PathBuf {
        self.spill_dir.clone().unwrap_or_else(std::env::temp_dir)
    }
}
