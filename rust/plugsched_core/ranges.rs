// SPDX-License-Identifier: GPL-2.0

//! Tables of function address ranges, sorted by start address, checked to be
//! non-overlapping, and searched with binary search.
//!
//! The stack inspection looks up every return address of every task in such
//! a table: a hit means the task is executing (or will return into) one of
//! the functions about to be replaced, unless the address is one of the
//! table's safe points: a return address through which the task may return
//! after the switch without running any of the replaced logic
//! (Documentation/live-update.rst, "Safe points").

use core::fmt;

/// One function (or one piece of it, e.g. a `.cold` part): `[start, start + size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// First byte.
    pub start: u64,
    /// Length in bytes; never zero in a valid table.
    pub size: u64,
    /// Caller-chosen identifier (e.g. index into a name table).
    pub id: u32,
}

impl Range {
    /// One past the last byte.  Tables reject ranges for which this wraps.
    pub fn end(&self) -> u64 {
        self.start.wrapping_add(self.size)
    }

    /// Whether `addr` lies inside the range.
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.start && addr - self.start < self.size
    }
}

/// Why a set of ranges cannot form a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeError {
    /// The range with this id has size 0.
    Empty(u32),
    /// The range with this id runs past the end of the address space.
    Wraps(u32),
    /// The ranges with these ids overlap.
    Overlap(u32, u32),
    /// A safe point out of order (or repeated) or outside every range.
    SafePoint(u64),
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeError::Empty(id) => write!(f, "range {id} is empty"),
            RangeError::Wraps(id) => write!(f, "range {id} wraps around the address space"),
            RangeError::Overlap(a, b) => write!(f, "ranges {a} and {b} overlap"),
            RangeError::SafePoint(a) => {
                write!(f, "safe point {a:#x} out of order or outside the ranges")
            }
        }
    }
}

/// A validated table: sorted by start, no empty, wrapping or overlapping ranges.
#[derive(Clone, Copy, Debug)]
pub struct RangeTable<'a> {
    ranges: &'a [Range],
    /// Addresses inside the ranges that are not busy, sorted.
    safe: &'a [u64],
}

impl<'a> RangeTable<'a> {
    /// Sort `ranges` in place and validate them.  Does not allocate, so it
    /// may run in any context.
    pub fn new(ranges: &'a mut [Range]) -> Result<Self, RangeError> {
        heapsort_by_start(ranges);
        Self::sorted(ranges)
    }

    /// Validate `ranges` already sorted by start (as [`RangeTable::new`]
    /// leaves them), without writing them: a pair out of order is reported
    /// as overlapping.  Does not allocate.
    pub fn sorted(ranges: &'a [Range]) -> Result<Self, RangeError> {
        for r in ranges.iter() {
            if r.size == 0 {
                return Err(RangeError::Empty(r.id));
            }
            if r.start.checked_add(r.size).is_none() {
                return Err(RangeError::Wraps(r.id));
            }
        }
        for w in ranges.windows(2) {
            if w[0].end() > w[1].start {
                return Err(RangeError::Overlap(w[0].id, w[1].id));
            }
        }
        Ok(RangeTable { ranges, safe: &[] })
    }

    /// The table with the safe points `safe` (sorted, each inside a
    /// range, as [`sort_addrs`] leaves them once deduplicated).  One pass
    /// over both, in address order: every switch checks them.
    pub fn with_safe_points(self, safe: &'a [u64]) -> Result<Self, RangeError> {
        let mut ranges = self.ranges.iter().peekable();
        let mut last = None;
        for &a in safe {
            if last.is_some_and(|l| l >= a) {
                return Err(RangeError::SafePoint(a));
            }
            last = Some(a);
            while ranges.next_if(|r| r.end() <= a).is_some() {}
            if !ranges.peek().is_some_and(|r| r.contains(a)) {
                return Err(RangeError::SafePoint(a));
            }
        }
        Ok(RangeTable { safe, ..self })
    }

    /// The range that makes `addr`, a return address on a stack, busy: the
    /// range containing it unless it is a safe point.  O(log n).
    pub fn busy_at(&self, addr: u64) -> Option<&'a Range> {
        self.find(addr)
            .filter(|_| self.safe.binary_search(&addr).is_err())
    }

    /// Number of safe points.
    pub fn safe_points(&self) -> usize {
        self.safe.len()
    }

    /// The range containing `addr`, if any: O(log n).
    pub fn find(&self, addr: u64) -> Option<&'a Range> {
        let i = self.ranges.partition_point(|r| r.start <= addr);
        let r = self.ranges.get(i.checked_sub(1)?)?;
        r.contains(addr).then_some(r)
    }

    /// The ranges, sorted by start address.
    pub fn as_slice(&self) -> &'a [Range] {
        self.ranges
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the table has no range.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// Sort addresses in place (for [`RangeTable::with_safe_points`]), as
/// the ranges are sorted: no allocation, no panic path.
pub fn sort_addrs(v: &mut [u64]) {
    heapsort_by(v, |&a| a);
}

/// In-place heapsort by start address.
fn heapsort_by_start(v: &mut [Range]) {
    heapsort_by(v, |r| r.start);
}

/// In-place heapsort by `key`: O(n log n), no allocation, no recursion,
/// and (unlike `core`'s sorts) no panic path for inconsistent orderings,
/// which objtool cannot see through in kernel builds.  Not stable.
pub fn heapsort_by<T>(v: &mut [T], key: impl Fn(&T) -> u64 + Copy) {
    fn sift_down<T>(v: &mut [T], mut root: usize, end: usize, key: impl Fn(&T) -> u64) {
        loop {
            let mut child = 2 * root + 1;
            if child >= end {
                return;
            }
            if child + 1 < end && key(&v[child + 1]) > key(&v[child]) {
                child += 1;
            }
            if key(&v[root]) >= key(&v[child]) {
                return;
            }
            v.swap(root, child);
            root = child;
        }
    }
    let n = v.len();
    for i in (0..n / 2).rev() {
        sift_down(v, i, n, key);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift_down(v, 0, end, key);
    }
}

/// Reference implementation of [`RangeTable::find`]: a linear scan.
pub fn find_linear(ranges: &[Range], addr: u64) -> Option<&Range> {
    ranges.iter().find(|r| r.contains(addr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_util::Rng;
    use std::vec::Vec;

    fn r(start: u64, size: u64, id: u32) -> Range {
        Range { start, size, id }
    }

    #[test]
    fn sorts_and_finds() {
        let mut v = [r(0x300, 0x10, 3), r(0x100, 0x80, 1), r(0x200, 0x1, 2)];
        let t = RangeTable::new(&mut v).unwrap();
        assert_eq!(t.as_slice()[0].id, 1);
        assert_eq!(t.find(0xff), None);
        assert_eq!(t.find(0x100).map(|r| r.id), Some(1));
        assert_eq!(t.find(0x17f).map(|r| r.id), Some(1));
        assert_eq!(t.find(0x180), None);
        assert_eq!(t.find(0x200).map(|r| r.id), Some(2));
        assert_eq!(t.find(0x201), None);
        assert_eq!(t.find(0x30f).map(|r| r.id), Some(3));
        assert_eq!(t.find(0x310), None);
        assert_eq!(t.find(u64::MAX), None);
        assert_eq!(t.find(0), None);
    }

    #[test]
    fn adjacent_ranges_are_fine() {
        let mut v = [r(0x10, 0x10, 1), r(0x20, 0x10, 2)];
        let t = RangeTable::new(&mut v).unwrap();
        assert_eq!(t.find(0x1f).map(|r| r.id), Some(1));
        assert_eq!(t.find(0x20).map(|r| r.id), Some(2));
    }

    #[test]
    fn rejects_bad_tables() {
        let mut v = [r(0x10, 0x11, 1), r(0x20, 0x10, 2)];
        assert_eq!(
            RangeTable::new(&mut v).unwrap_err(),
            RangeError::Overlap(1, 2)
        );
        let mut v = [r(0x10, 0, 7)];
        assert_eq!(RangeTable::new(&mut v).unwrap_err(), RangeError::Empty(7));
        let mut v = [r(u64::MAX - 1, 2, 9)];
        assert_eq!(RangeTable::new(&mut v).unwrap_err(), RangeError::Wraps(9));
        let mut v = [r(0x10, 0x10, 1), r(0x10, 0x10, 2)];
        assert!(matches!(
            RangeTable::new(&mut v),
            Err(RangeError::Overlap(_, _))
        ));
        let mut v: [Range; 0] = [];
        assert!(RangeTable::new(&mut v).unwrap().is_empty());
    }

    /// Property: on random valid tables, binary search agrees with a linear
    /// scan for random addresses and for every boundary address.
    #[test]
    fn sorted_takes_what_new_leaves_and_rejects_disorder() {
        let mut v = [r(0x300, 0x10, 3), r(0x100, 0x10, 1), r(0x200, 0x10, 2)];
        let sorted = RangeTable::new(&mut v).unwrap().as_slice().to_vec();
        let t = RangeTable::sorted(&sorted).unwrap();
        assert_eq!(t.find(0x205).map(|r| r.id), Some(2));
        let unsorted = [r(0x200, 0x10, 2), r(0x100, 0x10, 1)];
        assert_eq!(
            RangeTable::sorted(&unsorted).unwrap_err(),
            RangeError::Overlap(2, 1)
        );
    }

    #[test]
    fn binary_search_matches_linear_scan() {
        let mut rng = Rng::new(0x5eed);
        for round in 0..500 {
            let n = rng.below(64) as usize;
            let mut v: Vec<Range> = Vec::new();
            let mut at = rng.below(1 << 20);
            for id in 0..n as u32 {
                at += rng.below(64); // gap, possibly 0
                let size = 1 + rng.below(256);
                v.push(r(at, size, id));
                at += size;
            }
            // Shuffle so the table has to sort.
            for i in (1..v.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                v.swap(i, j);
            }
            let naive = v.clone();
            let t = RangeTable::new(&mut v).unwrap();
            let mut probes: Vec<u64> = (0..200).map(|_| rng.below(at + 64)).collect();
            for x in &naive {
                probes.extend([x.start.wrapping_sub(1), x.start, x.end() - 1, x.end()]);
            }
            for a in probes {
                assert_eq!(
                    t.find(a),
                    find_linear(&naive, a),
                    "round {round} addr {a:#x}"
                );
            }
        }
    }

    #[test]
    fn safe_points_are_not_busy() {
        let mut v = [r(0x100, 0x80, 1), r(0x200, 0x10, 2)];
        let t = RangeTable::new(&mut v).unwrap();
        let safe = [0x105, 0x17f, 0x208];
        let s = t.with_safe_points(&safe).unwrap();
        assert_eq!(s.safe_points(), 3);
        for a in safe {
            assert_eq!(s.busy_at(a), None, "{a:#x}");
            // Still inside its range for everything else (probes).
            assert!(s.find(a).is_some());
        }
        assert_eq!(s.busy_at(0x104).map(|r| r.id), Some(1));
        assert_eq!(s.busy_at(0x106).map(|r| r.id), Some(1));
        assert_eq!(s.busy_at(0x209).map(|r| r.id), Some(2));
        assert_eq!(s.busy_at(0x180), None);
        // Without safe points, busy is find.
        assert_eq!(t.busy_at(0x105).map(|r| r.id), Some(1));
        // Out of order, repeated, outside every range.
        assert_eq!(
            t.with_safe_points(&[0x108, 0x105]).unwrap_err(),
            RangeError::SafePoint(0x105)
        );
        assert_eq!(
            t.with_safe_points(&[0x105, 0x105]).unwrap_err(),
            RangeError::SafePoint(0x105)
        );
        assert_eq!(
            t.with_safe_points(&[0x190]).unwrap_err(),
            RangeError::SafePoint(0x190)
        );
    }

    /// 1 to `n` ranges in ascending order, each after a gap below `gap`,
    /// of 1 to `size` bytes; and the end of the last.
    fn random_ranges(rng: &mut Rng, n: u64, gap: u64, size: u64) -> (Vec<Range>, u64) {
        let mut v = Vec::new();
        let mut at = 0;
        for id in 0..1 + rng.below(n) as u32 {
            at += rng.below(gap);
            let len = 1 + rng.below(size);
            v.push(r(at, len, id));
            at += len;
        }
        (v, at)
    }

    /// Property: busy_at is find minus exactly the safe points.
    #[test]
    fn busy_at_matches_linear_definition() {
        let mut rng = Rng::new(7);
        for _ in 0..300 {
            let (mut v, at) = random_ranges(&mut rng, 16, 32, 64);
            let naive = v.clone();
            let t = RangeTable::new(&mut v).unwrap();
            let mut safe: Vec<u64> = (0..rng.below(20))
                .map(|_| rng.below(at))
                .filter(|&a| find_linear(&naive, a).is_some())
                .collect();
            sort_addrs(&mut safe);
            safe.dedup();
            let s = t.with_safe_points(&safe).unwrap();
            for a in 0..at + 2 {
                let want = find_linear(&naive, a).filter(|_| !safe.contains(&a));
                assert_eq!(s.busy_at(a), want, "{a:#x}");
            }
        }
    }

    /// Property: safe points are accepted exactly when they are strictly
    /// ascending and each inside a range (the one-pass check against the
    /// definition).
    #[test]
    fn safe_points_checked_as_defined() {
        let mut rng = Rng::new(11);
        for _ in 0..500 {
            let (mut v, at) = random_ranges(&mut rng, 8, 8, 8);
            let naive = v.clone();
            let t = RangeTable::new(&mut v).unwrap();
            let mut safe: Vec<u64> = (0..rng.below(6)).map(|_| rng.below(at + 2)).collect();
            if rng.below(2) == 0 {
                safe.sort_unstable();
            }
            let want = safe.windows(2).all(|w| w[0] < w[1])
                && safe.iter().all(|&a| find_linear(&naive, a).is_some());
            assert_eq!(
                t.with_safe_points(&safe).is_ok(),
                want,
                "{safe:?} {naive:?}"
            );
        }
    }

    /// Property: heapsort sorts (compared with the standard sort).
    #[test]
    fn heapsort_sorts() {
        let mut rng = Rng::new(99);
        for n in 0..200 {
            let mut v: Vec<Range> = (0..n as u32).map(|id| r(rng.below(50), 1, id)).collect();
            let mut w = v.clone();
            heapsort_by_start(&mut v);
            w.sort_by_key(|x| x.start);
            let a: Vec<u64> = v.iter().map(|x| x.start).collect();
            let b: Vec<u64> = w.iter().map(|x| x.start).collect();
            assert_eq!(a, b);
        }
    }

    /// Property: overlap detection agrees with a quadratic check.
    #[test]
    fn overlap_detection_matches_pairwise_check() {
        let mut rng = Rng::new(42);
        for _ in 0..2000 {
            let n = 1 + rng.below(8) as usize;
            let mut v: Vec<Range> = (0..n as u32)
                .map(|id| r(rng.below(512), 1 + rng.below(64), id))
                .collect();
            let overlaps = v.iter().enumerate().any(|(i, a)| {
                v.iter()
                    .skip(i + 1)
                    .any(|b| a.start < b.end() && b.start < a.end())
            });
            assert_eq!(RangeTable::new(&mut v).is_err(), overlaps);
        }
    }
}
