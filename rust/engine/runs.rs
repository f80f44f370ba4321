// SPDX-License-Identifier: GPL-2.0

//! Addresses gathered as ascending runs that do not overlap (the safe
//! points of one function each), put in address order by sorting the runs
//! rather than every address: a few hundred runs for thousands of safe
//! points at load (issue #12, the load time).

use kernel::prelude::*;

use crate::pcore::ranges::heapsort_by;

/// Ascending runs of addresses.
pub(super) struct Runs {
    addrs: KVec<u64>,
    /// Each run: its first address, and where it lies in `addrs`.
    runs: KVec<(u64, usize, usize)>,
}

impl Runs {
    /// Room for `addrs` addresses in `runs` runs (more may come).
    pub(super) fn with_capacity(addrs: usize, runs: usize) -> Result<Self> {
        Ok(Runs {
            addrs: KVec::with_capacity(addrs, GFP_KERNEL)?,
            runs: KVec::with_capacity(runs, GFP_KERNEL)?,
        })
    }

    /// Add a run of ascending addresses (none: nothing is added).
    pub(super) fn add(&mut self, run: impl Iterator<Item = u64>) -> Result {
        let start = self.addrs.len();
        for a in run {
            self.addrs.push(a, GFP_KERNEL)?;
        }
        if let Some(&first) = self.addrs.get(start) {
            self.runs
                .push((first, start, self.addrs.len()), GFP_KERNEL)?;
        }
        Ok(())
    }

    /// Every address, the runs in the order of their first addresses.  A
    /// run that does not start after the end of the one before (a run
    /// repeated, as by the aliases of one function) is left out: a missing
    /// safe point only makes the stack check stricter.  The result is
    /// ascending if each run is (the caller checks it).
    pub(super) fn into_sorted(mut self) -> Result<KVec<u64>> {
        heapsort_by(&mut self.runs, |&(first, _, _)| first);
        let mut out = KVec::with_capacity(self.addrs.len(), GFP_KERNEL)?;
        for &(first, start, end) in self.runs.iter() {
            if out.last().is_some_and(|&last| last >= first) {
                continue;
            }
            out.extend_from_slice(self.addrs.get(start..end).unwrap_or(&[]), GFP_KERNEL)?;
        }
        Ok(out)
    }
}
