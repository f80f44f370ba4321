// SPDX-License-Identifier: GPL-2.0

//! The addresses arm64 code forms: `adrp xN, page` then `add xM, xN,
//! #lo12` (an address taken), or `ldr`/`str` with `[xN, #lo12]` (a use of
//! the memory there), or `adr xN, label`.  [`formed`] follows, over every
//! path of one function (a forward data flow over its branches), the pages
//! and addresses each register may hold: a register keeps them until
//! anything else writes it (a call: the caller-saved ones), and where
//! paths join it may hold those of either.  Compilers hoist an `adrp` far
//! from its uses, across branches and loops; a use missed is worse than
//! one too many (a variable vmlinux code uses would look private to the
//! module's scheduler).

use std::collections::{
    BTreeMap,
    HashMap, //
};

use super::regs::{
    effects,
    SP, //
};
use super::{
    Insn,
    Opcode,
    Operand, //
};

/// What one instruction does with a formed address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Formed {
    /// The address is computed into register `reg` (`add`, `adr`).
    Taken { addr: u64, reg: u16 },
    /// The memory at the address is read or written.
    Used { addr: u64 },
}

/// How many pages a register may hold before it counts as unknown.
const MAX: usize = 4;

/// The pages (or addresses) each register may hold.
type State = [Vec<u64>; 32];

/// The immediate of `add xd, xn, #imm` (shifted if need be).
fn add_imm(o: &Operand) -> Option<u64> {
    match *o {
        Operand::Immediate(v) => Some(u64::from(v)),
        Operand::ImmShift(v, s) => Some(u64::from(v) << s),
        _ => None,
    }
}

/// What `i` forms from the pages in `st`, and the register it gives the
/// formed pages (or addresses) to.
fn step(i: &Insn, st: &State) -> (Vec<Formed>, Option<(u16, Vec<u64>)>) {
    let pages = |r: u16| {
        if r < SP {
            st[usize::from(r)].clone()
        } else {
            Vec::new()
        }
    };
    match (i.opcode(), i.operands()) {
        (Some(Opcode::ADRP), [Operand::Register(_, d), Operand::PCOffset(off), ..]) => (
            vec![],
            Some((*d, vec![(i.addr & !0xfff).wrapping_add(*off as u64)])),
        ),
        (Some(Opcode::ADR), [Operand::Register(_, d), Operand::PCOffset(off), ..]) => {
            let addr = i.addr.wrapping_add(*off as u64);
            (vec![Formed::Taken { addr, reg: *d }], None)
        }
        (
            Some(Opcode::ADD),
            [Operand::RegisterOrSP(_, d), Operand::RegisterOrSP(_, n), imm, ..],
        ) => {
            let Some(v) = add_imm(imm) else {
                return (vec![], None);
            };
            let addrs: Vec<u64> = pages(*n).iter().map(|p| p.wrapping_add(v)).collect();
            let f = addrs
                .iter()
                .map(|&addr| Formed::Taken { addr, reg: *d })
                .collect();
            (f, None)
        }
        (_, [_, Operand::RegPreIndex(b, off, false), ..])
        | (_, [_, _, Operand::RegPreIndex(b, off, false), ..]) => {
            let at = |p: &u64| Formed::Used {
                addr: p.wrapping_add(i64::from(*off) as u64),
            };
            (pages(*b).iter().map(at).collect(), None)
        }
        _ => (vec![], None),
    }
}

/// The state after `i` with `st` before it.
fn transfer(i: &Insn, mut st: State, set: Option<(u16, Vec<u64>)>) -> State {
    let w = effects(i).writes;
    for (r, p) in st.iter_mut().enumerate() {
        if w & (1 << r) != 0 {
            p.clear();
        }
    }
    if let Some((d, pages)) = set.filter(|(d, _)| *d < SP) {
        st[usize::from(d)] = pages;
    }
    st
}

/// Merge `from` into `into`; whether anything was added.
fn join(into: &mut State, from: &State) -> bool {
    let mut changed = false;
    for (a, b) in into.iter_mut().zip(from) {
        for p in b {
            if !a.contains(p) && a.len() < MAX {
                a.push(*p);
                changed = true;
            }
        }
    }
    changed
}

/// The instructions control may go to after `insns[k]`, in the function:
/// both ways of a static-branch site (`labels`: site -> target).
fn successors(
    insns: &[Insn],
    k: usize,
    index: &BTreeMap<u64, usize>,
    labels: &HashMap<u64, u64>,
) -> Vec<usize> {
    let i = &insns[k];
    let at = |a: u64| index.get(&a).copied();
    let target = i.branch_target().and_then(at);
    let mut out: Vec<usize> = match i.opcode() {
        Some(Opcode::B) => target.into_iter().collect(),
        _ if i.ends_flow() => Vec::new(),
        Some(Opcode::BL) => vec![k + 1],
        _ => target.into_iter().chain([k + 1]).collect(),
    };
    if let Some(&t) = labels.get(&i.addr) {
        out.extend(at(t));
        out.push(k + 1);
    }
    out
}

/// What every instruction of one function's `insns` forms (`labels`:
/// the static-branch sites, site -> target).
pub fn formed(insns: &[Insn], labels: &HashMap<u64, u64>) -> Vec<Vec<Formed>> {
    let index: BTreeMap<u64, usize> = insns.iter().enumerate().map(|(k, i)| (i.addr, k)).collect();
    let empty = || -> State { std::array::from_fn(|_| Vec::new()) };
    let mut before: Vec<Option<State>> = vec![None; insns.len()];
    // (Code no path from the entry reaches, after a `b` and reached
    // through a jump table, starts with nothing known: every instruction
    // is a start, the entry last pushed and first taken.)
    let mut work: Vec<(usize, State)> = (0..insns.len()).rev().map(|k| (k, empty())).collect();
    let mut seen = vec![false; insns.len()];
    while let Some((k, st)) = work.pop() {
        if k >= insns.len() {
            continue;
        }
        let cur = before[k].get_or_insert_with(empty);
        if !join(cur, &st) && seen[k] {
            continue;
        }
        seen[k] = true;
        let (_, set) = step(&insns[k], cur);
        let after = transfer(&insns[k], cur.clone(), set);
        for s in successors(insns, k, &index, labels) {
            work.push((s, after.clone()));
        }
    }
    insns
        .iter()
        .zip(&before)
        .map(|(i, st)| st.as_ref().map_or(Vec::new(), |st| step(i, st).0))
        .collect()
}
