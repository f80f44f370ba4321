// SPDX-License-Identifier: GPL-2.0

//! Splitting work (tasks to inspect) across the CPUs of a stop_machine
//! rendezvous.  Every CPU evaluates these functions on its own, with no
//! communication, and together they must cover every item exactly once.

use core::ops::Range;

/// The worker (0-based) that handles item `index` of a sequence walked in the
/// same order by every worker: round-robin.  `workers` must not be 0.
pub fn owner(index: usize, workers: usize) -> usize {
    // No panicking `%`: this runs inside stop_machine.
    index.checked_rem(workers).unwrap_or(0)
}

/// The contiguous, balanced slice of `0..items` that `worker` handles.  The
/// first `items % workers` workers get one item more than the others.
/// `workers` must not be 0; a `worker >= workers` gets an empty range.
pub fn chunk(items: usize, workers: usize, worker: usize) -> Range<usize> {
    if worker >= workers {
        return items..items;
    }
    let (Some(base), Some(extra)) = (items.checked_div(workers), items.checked_rem(workers)) else {
        return items..items;
    };
    let start = worker * base + worker.min(extra);
    let len = base + usize::from(worker < extra);
    start..start + len
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    /// Property: for all small sizes, both schemes cover every item exactly
    /// once, and chunks differ in size by at most one.
    #[test]
    fn every_item_exactly_once() {
        for workers in 1..=17 {
            for items in 0..=300 {
                let mut seen_rr = vec![0u32; items];
                let mut seen_chunk = vec![0u32; items];
                let mut sizes = vec![];
                for w in 0..workers {
                    for (i, s) in seen_rr.iter_mut().enumerate() {
                        if owner(i, workers) == w {
                            *s += 1;
                        }
                    }
                    let c = chunk(items, workers, w);
                    sizes.push(c.len());
                    for i in c {
                        seen_chunk[i] += 1;
                    }
                }
                assert!(seen_rr.iter().all(|&s| s == 1), "rr {items}/{workers}");
                assert!(
                    seen_chunk.iter().all(|&s| s == 1),
                    "chunk {items}/{workers}"
                );
                let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(max - min <= 1);
            }
        }
    }

    #[test]
    fn out_of_range_worker_gets_nothing() {
        assert!(chunk(10, 2, 2).is_empty());
        assert_eq!(chunk(10, 3, 0), 0..4);
        assert_eq!(chunk(10, 3, 2), 7..10);
    }
}
