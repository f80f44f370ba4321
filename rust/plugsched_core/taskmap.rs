// SPDX-License-Identifier: GPL-2.0

//! The tasks whose stacks were found clean before the rendezvous, and
//! what identified their state then: a fixed-capacity open-addressing map
//! from a task's address to its [`Mark`].  Filled in process context
//! before `stop_machine` (the memory allocated before), read inside it:
//! a task whose mark has not changed has not run since its stack was
//! checked, so its stack need not be walked again.

/// What identifies the state of a task's stack between two looks at it:
/// its context-switch count (every switch out of a task increments one of
/// `nvcsw`/`nivcsw`) and its start time (a new task at a freed task's
/// address has another).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    /// `nvcsw + nivcsw`.
    pub switches: u64,
    /// `start_time`.
    pub start: u64,
}

/// One slot of the map; `key` 0 is empty (no task lives at address 0).
#[derive(Clone, Copy, Debug, Default)]
pub struct Slot {
    key: u64,
    mark: Mark,
}

/// The number of slots for `tasks` tasks: a power of two, at least twice
/// as many, so that probes stay short.
pub fn capacity_for(tasks: usize) -> usize {
    (tasks.saturating_mul(2)).max(16).next_power_of_two()
}

fn home(key: u64, mask: usize) -> usize {
    // Task structures are cache-line aligned: mix the high bits in.
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & mask
}

/// Record `mark` for the task at `key` in `slots` (a [`capacity_for`]
/// length).  Returns false if the map is full or `key` is 0.
pub fn insert(slots: &mut [Slot], key: u64, mark: Mark) -> bool {
    let n = slots.len();
    if key == 0 || !n.is_power_of_two() {
        return false;
    }
    let mut i = home(key, n - 1);
    for _ in 0..n {
        let s = &mut slots[i];
        if s.key == 0 || s.key == key {
            *s = Slot { key, mark };
            return true;
        }
        i = (i + 1) & (n - 1);
    }
    false
}

/// The mark recorded for the task at `key`, if any.
pub fn find(slots: &[Slot], key: u64) -> Option<Mark> {
    let n = slots.len();
    if key == 0 || !n.is_power_of_two() {
        return None;
    }
    let mut i = home(key, n - 1);
    for _ in 0..n {
        let s = slots.get(i)?;
        if s.key == key {
            return Some(s.mark);
        }
        if s.key == 0 {
            return None;
        }
        i = (i + 1) & (n - 1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn mark(i: u64) -> Mark {
        Mark {
            switches: i * 3,
            start: i * 7 + 1,
        }
    }

    #[test]
    fn finds_what_was_inserted_and_nothing_else() {
        let keys: Vec<u64> = (1..=5000u64)
            .map(|i| 0xffff_8880_0000_0000 + i * 0x2c00)
            .collect();
        let mut slots = vec![Slot::default(); capacity_for(keys.len())];
        for (i, &k) in keys.iter().enumerate() {
            assert!(insert(&mut slots, k, mark(i as u64)));
        }
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(find(&slots, k), Some(mark(i as u64)));
        }
        assert_eq!(find(&slots, 0xffff_8880_0000_0000 + 0x1600), None);
        assert_eq!(find(&slots, 0), None);
    }

    #[test]
    fn a_full_map_refuses_and_still_answers() {
        let mut slots = vec![Slot::default(); 16];
        for k in 1..=16u64 {
            assert!(insert(&mut slots, k << 12, mark(k)));
        }
        assert!(!insert(&mut slots, 17 << 12, mark(17)));
        assert_eq!(find(&slots, 17 << 12), None);
        assert_eq!(find(&slots, 5 << 12), Some(mark(5)));
        // Recording a task again replaces its mark.
        assert!(insert(&mut slots, 5 << 12, mark(99)));
        assert_eq!(find(&slots, 5 << 12), Some(mark(99)));
    }

    #[test]
    fn odd_sizes_and_zero_keys_are_refused() {
        let mut slots = vec![Slot::default(); 12];
        assert!(!insert(&mut slots, 1, mark(1)));
        assert_eq!(find(&slots, 1), None);
        let mut slots = vec![Slot::default(); 16];
        assert!(!insert(&mut slots, 0, mark(1)));
        assert_eq!(capacity_for(0), 16);
        assert_eq!(capacity_for(1000), 2048);
    }
}
