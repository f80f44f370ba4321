// SPDX-License-Identifier: GPL-2.0

//! Control flow and `sp` inside one arm64 function: the successors of an
//! instruction (both ways of every static-branch site of `__jump_table`,
//! past a WARN's `brk`; none after a call to a function that does not
//! return) and how `sp` moves, entry-relative, so that a stack slot is
//! known wherever it is used.

use std::collections::HashMap;

use anyhow::{
    bail,
    Result, //
};

use super::Context;
use crate::arch::arm64::regs::{
    effects,
    SP, //
};
use crate::arch::arm64::{
    Insn,
    Opcode,
    Operand,
    FP, //
};

/// The instructions of one function, by address.
pub struct Func<'a> {
    pub insns: &'a [Insn],
    at: HashMap<u64, usize>,
    cx: &'a Context,
    /// Entry-relative `x29` (after the prologue).
    pub fp: i64,
}

impl<'a> Func<'a> {
    pub fn new(insns: &'a [Insn], cx: &'a Context, fp: i64) -> Self {
        let at = insns.iter().enumerate().map(|(k, i)| (i.addr, k)).collect();
        Func { insns, at, cx, fp }
    }

    /// The index of the instruction at `addr`, if in the function.
    pub fn index(&self, addr: u64) -> Option<usize> {
        self.at.get(&addr).copied()
    }

    /// The instructions control may reach after instruction `k`.
    pub fn successors(&self, k: usize) -> Result<Vec<usize>> {
        let i = &self.insns[k];
        let mut out = Vec::new();
        let next = self.index(i.next());
        // A static-branch site goes either way, whatever it holds now.
        if let Some(t) = self.cx.jump_labels.get(&i.addr) {
            out.extend(self.index(*t));
            out.extend(next);
        }
        let target = i.branch_target();
        match i.opcode() {
            Some(Opcode::BL) if target.is_some_and(|t| self.cx.noreturn.contains(&t)) => {}
            Some(Opcode::B) => out.extend(target.and_then(|t| self.index(t))),
            Some(Opcode::Bcc(_) | Opcode::CBZ | Opcode::CBNZ | Opcode::TBZ | Opcode::TBNZ) => {
                let Some(t) = target.and_then(|t| self.index(t)) else {
                    bail!("conditional branch out of the function: {}", i.show());
                };
                out.push(t);
                out.extend(next);
            }
            _ if i.ends_flow() => {}
            // (A WARN's `brk` continues; a BUG's does not, following it
            // too only adds paths.)
            _ => out.extend(next),
        }
        Ok(out)
    }

    /// Whether control may reach instruction `k` other than from `k - 1`
    /// (a branch or a static-branch site's target).
    pub fn is_target(&self, k: usize) -> bool {
        let a = self.insns[k].addr;
        self.cx.jump_labels.values().any(|&t| t == a)
            || self.insns.iter().any(|i| i.branch_target() == Some(a))
    }

    /// Entry-relative `sp` after instruction `i` with `sp` before it.
    pub fn sp_after(&self, i: &Insn, sp: i64) -> Result<i64> {
        let e = effects(i);
        if e.writes & (1 << SP) == 0 {
            return Ok(sp);
        }
        let imm = |o: &Operand| match *o {
            Operand::Immediate(v) => Some(i64::from(v)),
            Operand::ImmShift(v, s) => Some(i64::from(v) << s),
            _ => None,
        };
        let ops = i.operands();
        let base = |r: u16| match r {
            SP => Some(sp),
            FP => Some(self.fp),
            _ => None,
        };
        let v = match (i.opcode(), ops) {
            (
                Some(Opcode::ADD),
                [Operand::RegisterOrSP(_, SP), Operand::RegisterOrSP(_, n), m, ..],
            ) => base(*n).zip(imm(m)).map(|(b, m)| b + m),
            (
                Some(Opcode::SUB),
                [Operand::RegisterOrSP(_, SP), Operand::RegisterOrSP(_, n), m, ..],
            ) => base(*n).zip(imm(m)).map(|(b, m)| b - m),
            _ => ops.iter().find_map(|o| match *o {
                Operand::RegPreIndex(SP, off, true) | Operand::RegPostIndex(SP, off) => {
                    Some(sp + i64::from(off))
                }
                _ => None,
            }),
        };
        v.ok_or_else(|| anyhow::anyhow!("cannot follow sp through {}", i.show()))
    }

    /// Entry-relative `sp` before every instruction reachable from the
    /// entry, one value each (the function moves `sp` the same way on
    /// every path, or this fails).
    pub fn sp_everywhere(&self) -> Result<HashMap<usize, i64>> {
        let mut sp_at: HashMap<usize, i64> = HashMap::new();
        let mut work = vec![(0usize, 0i64)];
        while let Some((k, sp)) = work.pop() {
            match sp_at.get(&k) {
                Some(&s) if s == sp => continue,
                Some(&s) => bail!(
                    "sp differs at {:#x} between paths ({s:#x}, {sp:#x})",
                    self.insns[k].addr
                ),
                None => {}
            }
            sp_at.insert(k, sp);
            let after = self.sp_after(&self.insns[k], sp)?;
            for s in self.successors(k)? {
                work.push((s, after));
            }
        }
        Ok(sp_at)
    }
}
