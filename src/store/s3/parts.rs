//! How an upload is cut into parts: a plan fixed when the upload is
//! created, so part sizes never depend on where a client cut its PATCHes.

use std::collections::BTreeMap;

use crate::error::StoreError;

/// S3's own limits on multipart uploads.
pub(super) const MAX_PARTS: u64 = 10_000;
const MAX_PART_SIZE: u64 = 5 << 30;
pub(super) const MAX_OBJECT_SIZE: u64 = 5 << 40;
/// A growing plan doubles its part size after this many parts.
const PARTS_PER_STEP: u64 = 1_000;

/// The `.info` storage keys that record an upload's plan (tusd keeps the
/// storage map as it finds it).
const PART_SIZE_KEY: &str = "PartSize";
const DOUBLES_EVERY_KEY: &str = "PartSizeDoublesEvery";

/// The part sizes a store works with.
#[derive(Clone, Copy, Debug)]
pub(super) struct PartSizes {
    /// The smallest part S3 accepts but for the last one.
    pub(super) min: u64,
    /// The size aimed for.
    pub(super) preferred: u64,
    /// Every part but the last the same size, also for deferred lengths
    /// (what Cloudflare R2 requires).
    pub(super) equal: bool,
}

/// The size of each part of one upload, by its position among the parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PartPlan {
    /// Every part but the last this size.
    Equal(u64),
    /// This size for the first thousand parts, doubling with each thousand
    /// after, so an upload of unknown length can still grow to terabytes.
    Growing(u64),
}

impl PartSizes {
    fn base(&self) -> u64 {
        self.preferred.max(self.min).max(1)
    }

    /// The plan for a new upload of `size` bytes (`None`: not known yet).
    /// Known lengths get equal parts, grown so no upload needs more than
    /// 10,000 parts.
    pub(super) fn plan(&self, size: Option<u64>) -> Result<PartPlan, StoreError> {
        let base = self.base();
        let Some(size) = size else {
            return Ok(if self.equal {
                PartPlan::Equal(base)
            } else {
                PartPlan::Growing(base)
            });
        };
        if size > MAX_OBJECT_SIZE {
            return Err(StoreError::TooLarge {
                size,
                limit: MAX_OBJECT_SIZE,
            });
        }
        let needed = size.div_ceil(MAX_PARTS);
        if needed <= base {
            return Ok(PartPlan::Equal(base));
        }
        // Grown, rounded up to whole MiB.
        let grown = needed.div_ceil(1 << 20) << 20;
        Ok(PartPlan::Equal(grown.min(MAX_PART_SIZE)))
    }
}

impl PartPlan {
    /// The size of the part at `index` (0 for the first).
    pub(super) fn size_of(&self, index: u64) -> u64 {
        match *self {
            PartPlan::Equal(size) => size,
            PartPlan::Growing(base) => {
                let doublings = (index / PARTS_PER_STEP).min(63) as u32;
                base.checked_shl(doublings)
                    .filter(|s| s.leading_zeros() >= doublings)
                    .unwrap_or(MAX_PART_SIZE)
                    .min(MAX_PART_SIZE)
            }
        }
    }

    /// The longest upload this plan holds in `parts` parts.
    pub(super) fn longest(&self, parts: u64) -> u64 {
        let total = match *self {
            PartPlan::Equal(size) => size.saturating_mul(parts),
            PartPlan::Growing(_) => (0..parts.div_ceil(PARTS_PER_STEP))
                .map(|step| {
                    let in_step = (parts - step * PARTS_PER_STEP).min(PARTS_PER_STEP);
                    self.size_of(step * PARTS_PER_STEP).saturating_mul(in_step)
                })
                .fold(0u64, u64::saturating_add),
        };
        total.min(MAX_OBJECT_SIZE)
    }

    /// The plan an upload's `.info` records; `None` for uploads tusd made.
    pub(super) fn recorded(storage: &BTreeMap<String, String>) -> Option<PartPlan> {
        let size = storage
            .get(PART_SIZE_KEY)?
            .parse()
            .ok()
            .filter(|s| *s > 0)?;
        Some(match storage.get(DOUBLES_EVERY_KEY) {
            Some(_) => PartPlan::Growing(size),
            None => PartPlan::Equal(size),
        })
    }

    /// Records the plan in an upload's `.info` storage.
    pub(super) fn record(&self, storage: &mut BTreeMap<String, String>) {
        let (size, growing) = match *self {
            PartPlan::Equal(size) => (size, false),
            PartPlan::Growing(size) => (size, true),
        };
        storage.insert(PART_SIZE_KEY.into(), size.to_string());
        if growing {
            storage.insert(DOUBLES_EVERY_KEY.into(), PARTS_PER_STEP.to_string());
        } else {
            storage.remove(DOUBLES_EVERY_KEY);
        }
    }
}

/// The parts a final upload copies from partial uploads of these sizes:
/// which partial, and which range of it. Empty partials give none; one
/// over 5 GiB (S3's largest part) gives pieces of equal size.
pub(super) fn copy_pieces(sizes: &[u64]) -> Vec<(usize, std::ops::Range<u64>)> {
    let mut pieces = Vec::new();
    for (which, &size) in sizes.iter().enumerate().filter(|(_, s)| **s > 0) {
        let count = size.div_ceil(MAX_PART_SIZE);
        let each = size.div_ceil(count);
        for piece in 0..count {
            let start = piece * each;
            pieces.push((which, start..(start + each).min(size)));
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn sizes(equal: bool) -> PartSizes {
        PartSizes {
            min: 5 * MIB,
            preferred: 5 * MIB,
            equal,
        }
    }

    #[test]
    fn known_lengths_get_equal_parts_grown_to_fit_ten_thousand() {
        let sizes = sizes(false);
        assert_eq!(sizes.plan(Some(10)).unwrap(), PartPlan::Equal(5 * MIB));
        assert_eq!(
            sizes.plan(Some(50_000 * MIB)).unwrap(),
            PartPlan::Equal(5 * MIB)
        );
        let big = 5 << 40;
        let PartPlan::Equal(part) = sizes.plan(Some(big)).unwrap() else {
            panic!("a known length gets equal parts");
        };
        assert!(part * MAX_PARTS >= big && part.is_multiple_of(MIB) && part <= MAX_PART_SIZE);
        assert!(sizes.plan(Some(big + 1)).is_err());
        let tiny = PartSizes {
            min: 1024,
            preferred: 0,
            equal: false,
        };
        assert_eq!(tiny.plan(Some(5000)).unwrap(), PartPlan::Equal(1024));
    }

    #[test]
    fn deferred_lengths_grow_to_terabytes_unless_parts_must_be_equal() {
        let growing = sizes(false).plan(None).unwrap();
        assert_eq!(growing, PartPlan::Growing(5 * MIB));
        assert_eq!(growing.size_of(0), 5 * MIB);
        assert_eq!(growing.size_of(999), 5 * MIB);
        assert_eq!(growing.size_of(1000), 10 * MIB);
        assert_eq!(growing.size_of(9999), (5 * MIB) << 9);
        assert!(growing.longest(MAX_PARTS) > 4 << 40);
        assert_eq!(growing.longest(1), 5 * MIB);
        assert_eq!(growing.longest(1001), 1000 * 5 * MIB + 10 * MIB);
        let equal = sizes(true).plan(None).unwrap();
        assert_eq!(equal, PartPlan::Equal(5 * MIB));
        assert_eq!(equal.longest(MAX_PARTS), 50_000 * MIB);
        assert_eq!(PartPlan::Growing(4 << 30).size_of(5000), MAX_PART_SIZE);
    }

    #[test]
    fn partials_over_five_gib_are_copied_in_equal_pieces() {
        let six = 6 << 30;
        assert_eq!(
            copy_pieces(&[10, 0, six, 7]),
            vec![(0, 0..10), (2, 0..3 << 30), (2, 3 << 30..six), (3, 0..7)]
        );
        let pieces = copy_pieces(&[(10 << 30) + 1]);
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|(_, r)| r.end - r.start <= MAX_PART_SIZE));
    }

    #[test]
    fn a_plan_survives_the_info() {
        for plan in [PartPlan::Equal(7), PartPlan::Growing(9)] {
            let mut storage = BTreeMap::new();
            plan.record(&mut storage);
            assert_eq!(PartPlan::recorded(&storage), Some(plan));
        }
        assert_eq!(PartPlan::recorded(&BTreeMap::new()), None);
    }
}
