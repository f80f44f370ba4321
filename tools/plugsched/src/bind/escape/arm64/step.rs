// SPDX-License-Identifier: GPL-2.0

//! The data flow of one ordinary arm64 instruction in the escape
//! analysis: loads, stores, and the registers written from values.

use std::collections::BTreeSet;

use super::super::follow::{
    Isa,
    Regs,
    Site,
    State, //
};
use super::super::Holders;
use super::{
    Arm64,
    R_AARCH64_ADD_ABS_LO12_NC, //
};
use crate::arch::arm64::regs::{
    effects,
    store,
    SP, //
};
use crate::arch::arm64::{
    Insn,
    Operand,
    FP, //
};
use crate::bind::module::Module;

/// The registers a store writes to memory, if `ins` stores.
fn stored_regs(ins: &Insn) -> Option<Regs> {
    let s = store(ins.opcode()?)?;
    let mut regs = 0;
    for o in ins.operands().iter().skip(s.first).take(s.count) {
        if let Operand::Register(_, r) = *o {
            if r < SP {
                regs |= 1 << r;
            }
        }
    }
    Some(regs)
}

/// The memory operand of `ins`: base register, offset (none if indexed
/// by a register) and whether the base is written back.
fn memory(ins: &Insn) -> Option<(u16, Option<i64>, bool)> {
    ins.operands().iter().find_map(|o| match *o {
        Operand::RegPreIndex(b, off, wb) => Some((b, Some(i64::from(off)), wb)),
        Operand::RegPostIndex(b, _) => Some((b, Some(0), true)),
        Operand::RegRegOffset(b, ..) | Operand::RegPostIndexReg(b, _) => Some((b, None, false)),
        _ => None,
    })
}

/// The data flow of one instruction that is no branch ([`Isa::step`]).
pub(super) fn step(
    site: &Site,
    st: &mut State,
    src: bool,
    stored: &mut Holders,
) -> Result<(), String> {
    let Site { m, code, i, .. } = *site;
    let ins = &m.code64[code].insns[i];
    let e = effects(ins);
    let mem = memory(ins);
    let slot = mem.and_then(|(b, off, _)| {
        off.filter(|_| b == SP || b == FP)
            .map(|o| (u32::from(b), o))
    });
    let at = || Arm64::place(m, code, ins.addr);
    if let Some(vals) = stored_regs(ins) {
        let value = st.regs & vals != 0;
        let (base, _, wb) = mem.unwrap_or((0, None, false));
        match (value, slot) {
            (true, _) if base == SP && wb => {
                return Err(format!("pushed on the stack at {}", at()))
            }
            (true, _) if base < SP && st.regs & (1 << base) != 0 => {}
            _ => site.store(st, value, slot, || holder(m, code, i, base), stored, at)?,
        }
        return Ok(());
    }
    let loaded = slot.is_some_and(|s| st.slots.contains(&s));
    let value = src || loaded || (mem.is_none() && st.regs & e.reads != 0);
    // (The base of a written-back address keeps what it holds.)
    let base = mem.filter(|m| m.2).map_or(0, |m| 1 << m.0.min(SP));
    let dest = e.writes & !base & !(1 << SP);
    if value {
        st.regs |= dest;
    } else {
        st.regs &= !dest;
    }
    Ok(())
}

/// The module variable that register `base` points into at `(code, i)`:
/// the last write of `base` before it, in the same straight-line code, is
/// `add base, x, :lo12:var` (or the access itself is relocated against
/// `var`).
fn holder(m: &Module, code: usize, i: usize, base: u16) -> Option<usize> {
    let c = &m.code64[code];
    if let Some(r) = m.reloc_at(c.sec, c.insns[i].addr) {
        return m.target(r, None).and_then(|t| m.symbol_at(t));
    }
    let targets: BTreeSet<u64> = c.insns.iter().filter_map(|x| x.branch_target()).collect();
    for k in (0..i).rev() {
        let ins = &c.insns[k];
        if ins.branch_target().is_some()
            || ins.ends_flow()
            || targets.contains(&c.insns[k + 1].addr)
        {
            return None;
        }
        if effects(ins).writes & (1 << base.min(SP)) == 0 {
            continue;
        }
        let r = m.reloc_at(c.sec, ins.addr)?;
        if r.rtype != R_AARCH64_ADD_ABS_LO12_NC {
            return None;
        }
        return m.target(r, None).and_then(|t| m.symbol_at(t));
    }
    None
}
