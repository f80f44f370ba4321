// SPDX-License-Identifier: GPL-2.0

//! The extents of this module's copies of the replaced functions, for all
//! of them in one pass over the module's symbol table.
//!
//! `kallsyms_lookup_size_offset()` scans a module's whole symbol table for
//! each address (about 3500 symbols on the test kernel): once per copy,
//! that was most of the plan's time at load (issue #12).  [`CopySizes`]
//! gives the same sizes: from a symbol's address to the next symbol
//! kallsyms weighs, or to the end of the module's text.

use kernel::prelude::*;

use super::plan::{
    func_range,
    sort_unique, //
};
use crate::kapi;
use crate::pcore::ranges::Range;

/// Sizes of functions of this module, by address.
pub(super) struct CopySizes {
    /// The addresses asked for, sorted, without repeats.
    addrs: KVec<u64>,
    /// Per address: whether a symbol starts there, and where the next
    /// symbol (or the module's text) starts.
    extents: KVec<(bool, u64)>,
}

impl CopySizes {
    /// Find the sizes of the functions of this module at `addrs`; other
    /// addresses are left to [`func_range`].
    pub(super) fn new(addrs: impl Iterator<Item = u64>) -> Result<Self> {
        let (text, text_size) = kapi::module_text();
        let mut v = KVec::new();
        for a in addrs.filter(|a| a.wrapping_sub(text) < text_size) {
            v.push(a, GFP_KERNEL)?;
        }
        sort_unique(&mut v);
        let mut extents = KVec::with_capacity(v.len(), GFP_KERNEL)?;
        for _ in 0..v.len() {
            extents.push((false, text + text_size), GFP_KERNEL)?;
        }
        kapi::for_each_module_symbol(|sym| {
            // The first address at or after the symbol: the symbol may
            // start it; the address before it ends no later than it.
            let i = v.partition_point(|&a| a < sym);
            if let (Some(&a), Some(e)) = (v.get(i), extents.get_mut(i)) {
                e.0 |= a == sym;
            }
            if let Some(e) = i.checked_sub(1).and_then(|p| extents.get_mut(p)) {
                e.1 = e.1.min(sym);
            }
        });
        Ok(CopySizes { addrs: v, extents })
    }

    /// The size of the function at `addr`, if it is one of this module's
    /// asked for and a symbol starts there.
    pub(super) fn size(&self, addr: u64) -> Option<u64> {
        let i = self.addrs.binary_search(&addr).ok()?;
        match self.extents.get(i)? {
            &(true, next) => Some(next - addr),
            _ => None,
        }
    }

    /// The range of the function at `addr` (for `id`, named `what` in an
    /// error), as [`func_range`] gives it.
    pub(super) fn range(&self, addr: u64, id: u32, what: &CStr) -> Result<Range> {
        match self.size(addr) {
            Some(size) => Ok(Range {
                start: addr,
                size,
                id,
            }),
            None => func_range(addr as usize, id, what),
        }
    }
}
