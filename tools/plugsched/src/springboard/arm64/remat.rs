// SPDX-License-Identifier: GPL-2.0

//! The value the top half of vmlinux's `__schedule` leaves in a register
//! the tail reads, if the springboard can recompute it: a forward data
//! flow over every path from the entry to the `bl __switch_to` of what
//! each register holds -- `current` (`mrs xN, sp_el0`: the task that
//! switches out is the one that resumes), an address (`adrp` + `add`), a
//! constant (`movz`), copied by `mov`, or the result of one instruction
//! (the same execution of it on every path: a register still holding an
//! older execution's result is unknown) -- which, if it is also in `x0` or
//! `x1` at the call, is `prev` or `next`, the springboard's own arguments.

use std::collections::{
    HashMap,
    HashSet, //
};

use anyhow::{
    bail,
    Result, //
};

use super::flow::Func;
use super::prologue::SYSREG_SP_EL0;
use crate::arch::arm64::regs::{
    effects,
    SP, //
};
use crate::arch::arm64::{
    Insn,
    Opcode,
    Operand,
    SizeCode,
    ZR_SP, //
};

/// A value the springboard recomputes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `sp_el0`: the current task.
    Current,
    /// The address of a vmlinux symbol plus an offset.
    Address(String, u64),
    /// A constant.
    Const(u64),
    /// `prev` (in `x0` at the call).
    Prev,
    /// `next` (in `x1` at the call).
    Next,
}

/// What a register holds at a point, over all paths reaching it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Abs {
    Current,
    Page(u64),
    Addr(u64),
    Const(u64),
    /// The result of the latest execution of instruction `k`.
    Def(usize),
    /// Differs between paths, or computed otherwise.
    Varies,
}

type Regs = [Option<Abs>; 32];

/// Join two states; whether `into` changed.
fn join(into: &mut Regs, from: &Regs) -> bool {
    let mut changed = false;
    for (a, b) in into.iter_mut().zip(from) {
        let j = match (*a, *b) {
            (x, None) => x,
            (None, y) => y,
            (Some(x), Some(y)) if x == y => Some(x),
            _ => Some(Abs::Varies),
        };
        changed |= j != *a;
        *a = j;
    }
    changed
}

/// The immediate of an `add` or `movz`.
fn imm(o: &Operand) -> Option<u64> {
    match *o {
        Operand::Immediate(v) => Some(u64::from(v)),
        Operand::Imm16(v) => Some(u64::from(v)),
        Operand::ImmShift(v, s) => Some(u64::from(v) << s),
        _ => None,
    }
}

/// The state after `i`, instruction `k`.
fn transfer(k: usize, i: &Insn, mut st: Regs) -> Regs {
    let val = |st: &Regs, r: u16| {
        if r == ZR_SP {
            Some(Abs::Const(0))
        } else {
            st[usize::from(r)]
        }
    };
    let new = match (i.opcode(), i.operands()) {
        (Some(Opcode::MRS), [Operand::Register(_, d), Operand::SystemReg(SYSREG_SP_EL0), ..]) => {
            Some((*d, Abs::Current))
        }
        (Some(Opcode::ADRP), [Operand::Register(_, d), Operand::PCOffset(off), ..]) => {
            Some((*d, Abs::Page((i.addr & !0xfff).wrapping_add(*off as u64))))
        }
        (Some(Opcode::ADD), [Operand::RegisterOrSP(_, d), Operand::RegisterOrSP(_, n), m, ..]) => {
            let v = match (val(&st, *n), imm(m)) {
                (Some(Abs::Page(p) | Abs::Addr(p)), Some(v)) => Abs::Addr(p.wrapping_add(v)),
                _ => Abs::Def(k),
            };
            Some((*d, v))
        }
        (Some(Opcode::MOVZ), [Operand::Register(_, d), m, ..]) => {
            Some((*d, imm(m).map_or(Abs::Def(k), Abs::Const)))
        }
        (
            Some(Opcode::ORR),
            [Operand::Register(SizeCode::X, d), Operand::Register(_, ZR_SP), Operand::RegShift(_, 0, _, m), ..],
        ) => Some((*d, val(&st, *m).unwrap_or(Abs::Varies))),
        _ => None,
    };
    // (A new execution of `k`: what an older one left is another value.)
    for v in st.iter_mut().filter(|v| **v == Some(Abs::Def(k))) {
        *v = Some(Abs::Varies);
    }
    // One result per instruction: a call's is `x0`, otherwise the first
    // operand's; what else it writes (a pair's second, what a call
    // clobbers) is unknown.
    let primary = match (i.opcode(), i.operands().first()) {
        (Some(Opcode::BL | Opcode::BLR), _) => Some(0),
        (_, Some(Operand::Register(_, r) | Operand::RegisterOrSP(_, r))) => Some(*r),
        _ => None,
    };
    let w = effects(i).writes;
    for r in 0..SP {
        if w & (1 << r) != 0 {
            let v = if primary == Some(r) {
                Abs::Def(k)
            } else {
                Abs::Varies
            };
            st[usize::from(r)] = Some(v);
        }
    }
    if let Some((d, v)) = new.filter(|(d, _)| *d < SP) {
        st[usize::from(d)] = Some(v);
    }
    st
}

/// What every register holds before instruction `at`, over all paths
/// from the entry.
fn before(f: &Func<'_>, at: usize) -> Result<Regs> {
    let mut state: HashMap<usize, Regs> = HashMap::new();
    let mut seen = HashSet::new();
    let mut work = vec![(0usize, [None; 32])];
    while let Some((k, st)) = work.pop() {
        let cur = state.entry(k).or_insert([None; 32]);
        if !join(cur, &st) && !seen.insert(k) {
            continue;
        }
        seen.insert(k);
        if k == at {
            continue;
        }
        let after = transfer(k, &f.insns[k], *cur);
        for s in f.successors(k)? {
            work.push((s, after));
        }
    }
    state
        .get(&at)
        .copied()
        .ok_or_else(|| anyhow::anyhow!("the call is unreachable"))
}

/// The registers `x0` and `x1` were copied from (`mov x0, xN`) in the
/// straight-line code right before the call at `at`, if they still hold
/// the same there: the registers that hold `prev` and `next`.
fn arguments_from(f: &Func<'_>, at: usize) -> [Option<u16>; 2] {
    let mut out = [None, None];
    let mut written: u32 = 0;
    for k in (0..at).rev() {
        let i = &f.insns[k];
        if let (
            Some(Opcode::ORR),
            [Operand::Register(SizeCode::X, d @ (0 | 1)), Operand::Register(_, ZR_SP), Operand::RegShift(_, 0, _, m), ..],
        ) = (i.opcode(), i.operands())
        {
            let slot = &mut out[usize::from(*d)];
            if slot.is_none() && written & (1 << d) == 0 && written & (1 << m) == 0 {
                *slot = Some(*m);
            }
        }
        written |= effects(i).writes;
        if f.is_target(k) || i.branch_target().is_some() || i.ends_flow() {
            break;
        }
    }
    out
}

/// The values of registers `regs` (bits) at instruction `at`.  `name(a)`
/// names the symbol containing address `a` and the offset in it.
pub fn values(
    f: &Func<'_>,
    at: usize,
    regs: u32,
    name: &dyn Fn(u64) -> Option<(String, u64)>,
) -> Result<Vec<(u16, Value)>> {
    let st = before(f, at)?;
    let [prev, next] = arguments_from(f, at);
    let mut out = Vec::new();
    for r in (0..SP).filter(|r| regs & (1 << r) != 0) {
        let v = match st[usize::from(r)] {
            _ if prev == Some(r) => Value::Prev,
            _ if next == Some(r) => Value::Next,
            Some(Abs::Current) => Value::Current,
            Some(Abs::Const(c)) => Value::Const(c),
            Some(Abs::Def(d)) if st[0] == Some(Abs::Def(d)) => Value::Prev,
            Some(Abs::Def(d)) if st[1] == Some(Abs::Def(d)) => Value::Next,
            Some(Abs::Addr(a)) => {
                let (s, off) =
                    name(a).ok_or_else(|| anyhow::anyhow!("x{r}: no symbol at {a:#x}"))?;
                Value::Address(s, off)
            }
            other => bail!(
                "x{r}, which the tail reads, holds {} at the call: the springboard cannot \
                 recompute it",
                match other {
                    Some(Abs::Page(_)) => "a page address",
                    None => "nothing",
                    _ => "a value computed by the top half (or different ones on different paths)",
                }
            ),
        };
        out.push((r, v));
    }
    Ok(out)
}

impl Value {
    /// The instructions that set register `reg` to the value, in the
    /// module (a vmlinux symbol is `__plugsched_vmlinux_<name>`, which
    /// klp-convert binds).
    pub fn asm(&self, reg: u16) -> String {
        match self {
            Value::Current => format!("mrs x{reg}, sp_el0"),
            Value::Address(s, off) => {
                let at = match off {
                    0 => format!("__plugsched_vmlinux_{s}"),
                    _ => format!("__plugsched_vmlinux_{s}+{off:#x}"),
                };
                format!("adrp x{reg}, {at}\\n\\tadd x{reg}, x{reg}, :lo12:{at}")
            }
            Value::Const(v) => format!("mov x{reg}, #{v:#x}"),
            Value::Prev => format!("mov x{reg}, x0"),
            Value::Next => format!("mov x{reg}, x1"),
        }
    }
}
