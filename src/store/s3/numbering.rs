//! Which listed parts hold an upload's bytes. Parts are uploaded several at
//! once, so a failure can leave later parts uploaded after a missing one;
//! their bytes follow a hole and count for nothing. Their numbers are
//! recorded in the `.info` as dead and never used again, so no part number
//! is ever uploaded twice.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// The `.info` storage key listing dead part numbers, as `3-5,9-9`.
const DEAD_PARTS_KEY: &str = "DeadParts";

/// One uploaded part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Part {
    pub(super) number: i32,
    pub(super) size: u64,
    pub(super) etag: String,
}

/// Part numbers that count for nothing, as ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct DeadParts(Vec<RangeInclusive<i32>>);

impl DeadParts {
    /// The dead parts an upload's `.info` records.
    pub(super) fn recorded(storage: &BTreeMap<String, String>) -> Self {
        let ranges = storage
            .get(DEAD_PARTS_KEY)
            .map(|list| {
                list.split(',')
                    .filter_map(|range| {
                        let (start, end) = range.split_once('-')?;
                        Some(start.trim().parse().ok()?..=end.trim().parse().ok()?)
                    })
                    .collect()
            })
            .unwrap_or_default();
        DeadParts(ranges)
    }

    /// Records them in an upload's `.info` storage.
    pub(super) fn record(&self, storage: &mut BTreeMap<String, String>) {
        if self.0.is_empty() {
            storage.remove(DEAD_PARTS_KEY);
            return;
        }
        let list = self
            .0
            .iter()
            .map(|r| format!("{}-{}", r.start(), r.end()))
            .collect::<Vec<_>>()
            .join(",");
        storage.insert(DEAD_PARTS_KEY.into(), list);
    }

    pub(super) fn contains(&self, number: i32) -> bool {
        self.0.iter().any(|r| r.contains(&number))
    }

    pub(super) fn add(&mut self, range: RangeInclusive<i32>) {
        if !range.is_empty() {
            self.0.push(range);
        }
    }

    /// How many part numbers they use up.
    pub(super) fn count(&self) -> u64 {
        self.0
            .iter()
            .map(|r| (*r.end() as i64 - *r.start() as i64 + 1).max(0) as u64)
            .sum()
    }

    fn highest(&self) -> i32 {
        self.0.iter().map(|r| *r.end()).max().unwrap_or(0)
    }
}

/// The parts of a listing that hold the upload's bytes.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Listing {
    /// In order, from part 1 on, skipping dead numbers, up to the first hole.
    pub(super) live: Vec<Part>,
    /// Uploaded parts past a hole, not recorded as dead yet: the numbers
    /// from the hole to the highest of them.
    pub(super) past_hole: Option<RangeInclusive<i32>>,
    /// The first number never used.
    pub(super) next_number: i32,
}

/// Sorts `listed` (every part S3 lists) into the parts that count.
pub(super) fn sort_out(mut listed: Vec<Part>, dead: &DeadParts) -> Listing {
    listed.sort_by_key(|p| p.number);
    let highest = listed.last().map_or(0, |p| p.number).max(dead.highest());
    let mut live = Vec::new();
    let mut expected = 1;
    let mut hole = None;
    for part in listed {
        if dead.contains(part.number) {
            continue;
        }
        while dead.contains(expected) {
            expected += 1;
        }
        if hole.is_none() && part.number == expected {
            live.push(part);
            expected += 1;
        } else {
            hole.get_or_insert(expected);
        }
    }
    Listing {
        live,
        past_hole: hole.map(|start| start..=highest),
        next_number: highest + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(numbers: &[i32]) -> Vec<Part> {
        numbers
            .iter()
            .map(|&number| Part {
                number,
                size: 10,
                etag: format!("e{number}"),
            })
            .collect()
    }

    fn numbers(parts: &[Part]) -> Vec<i32> {
        parts.iter().map(|p| p.number).collect()
    }

    #[test]
    fn parts_past_a_hole_count_for_nothing() {
        let listing = sort_out(parts(&[4, 1, 2]), &DeadParts::default());
        assert_eq!(numbers(&listing.live), [1, 2]);
        assert_eq!(listing.past_hole, Some(3..=4));
        assert_eq!(listing.next_number, 5);
    }

    #[test]
    fn dead_numbers_are_skipped_and_never_used_again() {
        let mut dead = DeadParts::default();
        dead.add(3..=5);
        let listing = sort_out(parts(&[1, 2, 4, 6, 7]), &dead);
        assert_eq!(numbers(&listing.live), [1, 2, 6, 7]);
        assert_eq!(listing.past_hole, None);
        assert_eq!(listing.next_number, 8);
        // Dead numbers above every listed part still count as used.
        let listing = sort_out(parts(&[1, 2]), &dead);
        assert_eq!(numbers(&listing.live), [1, 2]);
        assert_eq!(listing.next_number, 6);
        assert_eq!(dead.count(), 3);
    }

    #[test]
    fn dead_parts_survive_the_info() {
        let mut dead = DeadParts::default();
        dead.add(3..=5);
        dead.add(9..=9);
        let mut storage = BTreeMap::new();
        dead.record(&mut storage);
        assert_eq!(storage[DEAD_PARTS_KEY], "3-5,9-9");
        assert_eq!(DeadParts::recorded(&storage), dead);
        DeadParts::default().record(&mut storage);
        assert!(storage.is_empty());
    }
}
