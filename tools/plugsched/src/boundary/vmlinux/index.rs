// SPDX-License-Identifier: GPL-2.0

//! Address lookups: which function or variable starts at, or contains, an
//! address of vmlinux.

use std::collections::HashMap;

use super::super::algo::{
    Func,
    FuncId,
    Var, //
};

/// Symbol start address -> id, and a sorted list for containment lookups.
/// Ids are indexes of `Graph::funcs` or `Graph::vars`.
pub(super) struct AddrIndex {
    starts: Vec<(u64, u64, FuncId)>,
    by_start: HashMap<u64, Vec<FuncId>>,
}

impl AddrIndex {
    /// The functions of the graph.
    pub(super) fn new(funcs: &[Func]) -> Self {
        Self::from_ranges(
            funcs
                .iter()
                .enumerate()
                .map(|(i, f)| (f.addr, f.size, i))
                .collect(),
        )
    }

    /// The variables of the graph.
    pub(super) fn new_vars(vars: &[Var]) -> Self {
        Self::from_ranges(
            vars.iter()
                .enumerate()
                .map(|(i, v)| (v.addr, v.size, i))
                .collect(),
        )
    }

    fn from_ranges(mut starts: Vec<(u64, u64, usize)>) -> Self {
        starts.sort();
        let mut by_start: HashMap<u64, Vec<FuncId>> = HashMap::new();
        for &(a, _, i) in &starts {
            by_start.entry(a).or_default().push(i);
        }
        AddrIndex { starts, by_start }
    }

    /// The symbol starting exactly at `addr` (the first of its aliases).
    pub(super) fn at(&self, addr: u64) -> Option<FuncId> {
        self.by_start.get(&addr).and_then(|v| v.first().copied())
    }

    /// The symbol containing `addr`.
    pub(super) fn containing(&self, addr: u64) -> Option<FuncId> {
        let i = self.starts.partition_point(|&(a, _, _)| a <= addr);
        let &(a, s, id) = self.starts.get(i.checked_sub(1)?)?;
        (addr < a + s).then_some(id)
    }

    /// Every symbol (aliases included) starting at `addr`.
    pub(super) fn all_at(&self, addr: u64) -> &[FuncId] {
        self.by_start.get(&addr).map_or(&[], |v| v.as_slice())
    }

    /// The addresses the symbols cover: from the lowest start to the
    /// highest end.
    pub(super) fn span(&self) -> std::ops::Range<u64> {
        let lo = self.starts.first().map_or(0, |&(a, _, _)| a);
        let hi = self
            .starts
            .iter()
            .map(|&(a, s, _)| a + s)
            .max()
            .unwrap_or(0);
        lo..hi
    }

    /// The ids of the symbols starting in `[from, to)`, in address order.
    pub(super) fn starting_in(&self, from: u64, to: u64) -> impl Iterator<Item = FuncId> + '_ {
        let i = self.starts.partition_point(|&(a, _, _)| a < from);
        self.starts[i..]
            .iter()
            .take_while(move |&&(a, _, _)| a < to)
            .map(|&(_, _, id)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(ranges: &[(u64, u64)]) -> AddrIndex {
        let v: Vec<Var> = ranges
            .iter()
            .map(|&(addr, size)| Var {
                addr,
                size,
                ..Default::default()
            })
            .collect();
        AddrIndex::new_vars(&v)
    }

    #[test]
    fn lookups_by_start_and_containment() {
        let ix = vars(&[(0x100, 0x10), (0x200, 8), (0x200, 8), (0x300, 4)]);
        assert_eq!(ix.at(0x200), Some(1));
        assert_eq!(ix.all_at(0x200), &[1, 2]);
        assert_eq!(ix.at(0x204), None);
        assert_eq!(ix.containing(0x10f), Some(0));
        assert_eq!(ix.containing(0x110), None, "one past the end");
        assert_eq!(ix.containing(0xff), None);
        assert_eq!(
            ix.starting_in(0x100, 0x300).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(ix.span(), 0x100..0x304);
    }
}
