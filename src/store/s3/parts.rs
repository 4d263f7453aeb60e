//! How an upload is cut into parts.

use crate::error::StoreError;

/// S3's own limits on multipart uploads.
pub(super) const MAX_PARTS: u64 = 10_000;
const MAX_PART_SIZE: u64 = 5 << 30;
const MAX_OBJECT_SIZE: u64 = 5 << 40;

/// The part sizes a store works with.
#[derive(Clone, Copy, Debug)]
pub(super) struct PartSizes {
    /// The smallest part S3 accepts but for the last one.
    pub(super) min: u64,
    /// The size aimed for.
    pub(super) preferred: u64,
}

impl PartSizes {
    /// The size of every part but the last, for an upload of `size` bytes
    /// (`None`: not known yet). It depends on the length alone, never on
    /// where a client cut its PATCHes, so every part but the last has the
    /// same size (what Cloudflare R2 requires) and no upload needs more than
    /// 10,000 parts.
    pub(super) fn for_upload(&self, size: Option<u64>) -> Result<u64, StoreError> {
        let base = self.preferred.max(self.min).max(1);
        let Some(size) = size else {
            return Ok(base);
        };
        if size > MAX_OBJECT_SIZE {
            return Err(StoreError::TooLarge {
                size,
                limit: MAX_OBJECT_SIZE,
            });
        }
        let needed = size.div_ceil(MAX_PARTS);
        if needed <= base {
            return Ok(base);
        }
        // Grown, rounded up to whole MiB.
        let grown = needed.div_ceil(1 << 20) << 20;
        Ok(grown.min(MAX_PART_SIZE))
    }

    /// The longest upload parts of `part_size` can hold.
    pub(super) fn longest(part_size: u64) -> u64 {
        part_size.saturating_mul(MAX_PARTS).min(MAX_OBJECT_SIZE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn parts_grow_so_no_upload_needs_more_than_ten_thousand() {
        let sizes = PartSizes {
            min: 5 * MIB,
            preferred: 50 * MIB,
        };
        assert_eq!(sizes.for_upload(None).unwrap(), 50 * MIB);
        assert_eq!(sizes.for_upload(Some(10)).unwrap(), 50 * MIB);
        assert_eq!(sizes.for_upload(Some(500_000 * MIB)).unwrap(), 50 * MIB);
        let big = 5 << 40;
        let part = sizes.for_upload(Some(big)).unwrap();
        assert!(part * MAX_PARTS >= big && part.is_multiple_of(MIB) && part <= MAX_PART_SIZE);
        assert!(sizes.for_upload(Some(big + 1)).is_err());
        let tiny = PartSizes {
            min: 1024,
            preferred: 0,
        };
        assert_eq!(tiny.for_upload(Some(5000)).unwrap(), 1024);
    }
}
