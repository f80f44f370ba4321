// SPDX-License-Identifier: GPL-2.0

//! The frame an arm64 `__schedule` builds: which registers its prologue
//! saves where, where the frame record (`x29`, `x30`) and `x29` are, how
//! far `sp` goes down, whether `paciasp` signs the return address, and the
//! stack-protector slot.  Both shapes clang and gcc emit are read by
//! following `sp` from the entry:
//!
//! ```text
//! paciasp; sub sp, sp, #N; stp x29, x30, [sp, #o]; stp ...; add x29, sp, #o
//! paciasp; stp x29, x30, [sp, #-N]!; mov x29, sp; stp ...; sub sp, sp, #M
//! ```
//!
//! The canary (`CONFIG_STACKPROTECTOR_PER_TASK`, the guard in `sp_el0`'s
//! task) is `mrs xK, sp_el0; ldr xK, [xK, #G]; str xK, [x29 or sp, #c]`.

use anyhow::{
    bail,
    Result, //
};

use crate::arch::arm64::regs::SP;
use crate::arch::arm64::{
    Insn,
    Opcode,
    Operand,
    FP,
    HINT_PACIASP, //
};

/// How many instructions the prologue and the canary store may span.
const SPAN: usize = 32;
/// `sp_el0` in yaxpeax-arm's numbering of system registers (`mrs`).
pub const SYSREG_SP_EL0: u16 = 0x4208;

/// An arm64 `__schedule` prologue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prologue {
    /// Starts with `paciasp` (pointer authentication of the return address
    /// against the entry `sp`).
    pub pac: bool,
    /// Entry `sp` minus `sp` after the prologue.
    pub frame: u64,
    /// Entry `sp` minus `x29`.
    pub fp_below_entry: u64,
    /// Saved registers (19-30, 29 and 30 the frame record) and their
    /// slots, as offsets from `x29`, sorted by register.
    pub saves: Vec<(u16, i64)>,
    /// The canary: its slot (offset from `x29`) and the offset `G` of the
    /// guard in the task (`ldr xK, [xK, #G]` after `mrs xK, sp_el0`).
    pub canary: Option<(i64, i64)>,
}

/// Parse the prologue at the start of `insns`.
pub fn parse(insns: &[Insn]) -> Result<Prologue> {
    let head: Vec<&Insn> = insns.iter().take(SPAN).collect();
    let pac = head
        .iter()
        .take_while(|i| i.hint().is_some())
        .any(|i| i.hint() == Some(HINT_PACIASP));
    // Entry-relative sp, and the saves at entry-relative slots.
    let (mut sp, mut fp, mut frame) = (0i64, None, 0i64);
    let mut saves: Vec<(u16, i64)> = Vec::new();
    for i in head.iter().filter(|i| i.hint().is_none()) {
        match step(i, sp) {
            Step::Sp(n) => sp = n,
            Step::Fp(n) => fp = Some(n),
            Step::Save(regs, at, wb) => {
                saves.extend(
                    regs.iter()
                        .enumerate()
                        .map(|(k, &r)| (r, at + 8 * k as i64)),
                );
                if wb {
                    sp = at;
                }
            }
            // (The prologue ends at the first other instruction.)
            Step::Other => break,
        }
        frame = frame.min(sp);
    }
    let Some(fp) = fp else {
        bail!("prologue: no `add x29, sp, #n` (frame pointer) in the first {SPAN} instructions");
    };
    let mut saves: Vec<(u16, i64)> = saves.into_iter().map(|(r, a)| (r, a - fp)).collect();
    saves.sort();
    let canary = canary(&head, fp, &saves);
    if !saves.contains(&(FP, 0)) || !saves.contains(&(30, 8)) {
        bail!("prologue: the frame record (x29, x30) is not at x29");
    }
    Ok(Prologue {
        pac,
        frame: frame.unsigned_abs(),
        fp_below_entry: fp.unsigned_abs(),
        saves,
        canary,
    })
}

/// What one prologue instruction does to the frame.
enum Step {
    /// `sp` becomes this (entry-relative).
    Sp(i64),
    /// `x29` becomes this.
    Fp(i64),
    /// Registers stored (in order, 8 bytes apart) at this entry-relative
    /// slot, with or without `sp` written back to it.
    Save(Vec<u16>, i64, bool),
    Other,
}

/// The frame effect of `i` with `sp` at entry-relative `sp`.
fn step(i: &Insn, sp: i64) -> Step {
    let imm = |o: &Operand| match *o {
        Operand::Immediate(v) => Some(i64::from(v)),
        Operand::ImmShift(v, s) => Some(i64::from(v) << s),
        _ => None,
    };
    match (i.opcode(), i.operands()) {
        (
            Some(Opcode::SUB),
            [Operand::RegisterOrSP(_, SP), Operand::RegisterOrSP(_, SP), n, ..],
        ) => imm(n).map_or(Step::Other, |n| Step::Sp(sp - n)),
        (
            Some(Opcode::ADD),
            [Operand::RegisterOrSP(_, FP), Operand::RegisterOrSP(_, SP), n, ..],
        ) => imm(n).map_or(Step::Other, |n| Step::Fp(sp + n)),
        (Some(op @ (Opcode::STP | Opcode::STR)), ops) => save(op, ops, sp),
        _ => Step::Other,
    }
}

/// `stp`/`str` of callee-saved registers to an `sp` slot.
fn save(op: Opcode, ops: &[Operand], sp: i64) -> Step {
    let reg = |o: &Operand| match *o {
        Operand::Register(_, r) if (19..=30).contains(&r) => Some(r),
        _ => None,
    };
    let (regs, mem) = match (op, ops) {
        (Opcode::STP, [a, b, m, ..]) => (vec![reg(a), reg(b)], m),
        (_, [a, m, ..]) => (vec![reg(a)], m),
        _ => return Step::Other,
    };
    let Some(regs) = regs.into_iter().collect::<Option<Vec<u16>>>() else {
        return Step::Other;
    };
    match *mem {
        Operand::RegPreIndex(SP, off, wb) => Step::Save(regs, sp + i64::from(off), wb),
        Operand::RegPostIndex(SP, _) => Step::Other,
        _ => Step::Other,
    }
}

/// The canary's `x29`-relative slot and the guard's offset in the task.
fn canary(head: &[&Insn], fp: i64, saves: &[(u16, i64)]) -> Option<(i64, i64)> {
    let mut guard_in: Option<(u16, Option<i64>)> = None;
    let mut sp = 0i64;
    for i in head {
        if let Step::Sp(n) = step(i, sp) {
            sp = n;
        }
        match (i.opcode(), i.operands(), guard_in) {
            (
                Some(Opcode::MRS),
                [Operand::Register(_, k), Operand::SystemReg(SYSREG_SP_EL0), ..],
                _,
            ) => {
                guard_in = Some((*k, None));
            }
            (
                Some(Opcode::LDR),
                [Operand::Register(_, d), Operand::RegPreIndex(b, g, false), ..],
                Some((k, None)),
            ) if *d == k && *b == k => {
                guard_in = Some((k, Some(i64::from(*g))));
            }
            (
                Some(Opcode::STR | Opcode::STUR),
                [Operand::Register(_, s), Operand::RegPreIndex(b, c, false), ..],
                Some((k, Some(g))),
            ) if *s == k => {
                let slot = match *b {
                    FP => i64::from(*c),
                    SP => sp + i64::from(*c) - fp,
                    _ => continue,
                };
                return (!saves.iter().any(|&(_, a)| a == slot)).then_some((slot, g));
            }
            _ => {}
        }
    }
    None
}
