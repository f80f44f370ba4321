// SPDX-License-Identifier: GPL-2.0

//! The value the top half of vmlinux's `__schedule` leaves in a register
//! the tail reads, if the springboard can recompute it: the register is
//! written once in the whole function outside the tail (an `adrp` + `add`
//! pair counts as one), by `mrs xN, sp_el0` (`current`: the task that
//! switches out is the one that resumes), by an address formed with
//! `adrp` (+ `add`), or by a constant `movz`.

use anyhow::{
    bail,
    Result, //
};

use super::prologue::SYSREG_SP_EL0;
use super::tail::Tail;
use crate::arch::arm64::addr::{
    Formed,
    Pages, //
};
use crate::arch::arm64::regs::effects;
use crate::arch::arm64::{
    Insn,
    Opcode,
    Operand, //
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
}

/// The value of register `reg` that the tail reads, from its writes in
/// `insns` outside the tail.  `name(a)` names the symbol at or before `a`
/// and the offset from it.
pub fn value(
    insns: &[Insn],
    tail: &Tail,
    reg: u16,
    name: &dyn Fn(u64) -> Option<(String, u64)>,
) -> Result<Value> {
    let bit = 1u32 << reg;
    let mut pages = Pages::default();
    let mut defs = Vec::new();
    for (k, i) in insns.iter().enumerate() {
        let formed = pages.step(i);
        if tail.visited.contains(&k) || effects(i).writes & bit == 0 {
            continue;
        }
        defs.push((i, formed));
    }
    // An `adrp` and the `add` completing it are one definition.
    let last = defs.last().copied();
    let one = match (defs.len(), last) {
        (1, Some(d)) => d,
        (2, Some(d @ (_, Some(Formed::Taken { .. })))) if defs[0].0.opcode() == Some(Opcode::ADRP) => d,
        _ => bail!(
            "x{reg}, which the tail reads, is written {} times by the top half ({}): \
             the springboard cannot recompute it",
            defs.len(),
            defs.iter().map(|(i, _)| i.show()).collect::<Vec<_>>().join("; ")
        ),
    };
    match (one.0.opcode(), one.0.operands(), one.1) {
        (_, _, Some(Formed::Taken { addr, .. })) => {
            let (sym, off) = name(addr)
                .ok_or_else(|| anyhow::anyhow!("x{reg}: no symbol at {addr:#x}"))?;
            Ok(Value::Address(sym, off))
        }
        (Some(Opcode::MRS), [_, Operand::SystemReg(SYSREG_SP_EL0), ..], _) => Ok(Value::Current),
        (Some(Opcode::MOVZ), [_, Operand::Imm16(v), ..], _) => Ok(Value::Const(u64::from(*v))),
        (Some(Opcode::MOVZ), [_, Operand::ImmShift(v, s), ..], _) => {
            Ok(Value::Const(u64::from(*v) << s))
        }
        _ => bail!(
            "x{reg}, which the tail reads, holds what {} computed: the springboard \
             cannot recompute it",
            one.0.show()
        ),
    }
}

impl Value {
    /// The instructions that set register `reg` to the value, in the
    /// module (a vmlinux symbol is `__plugsched_vmlinux_<name>`, which
    /// klp-convert binds).
    pub fn asm(&self, reg: u16) -> String {
        match self {
            Value::Current => format!("mrs x{reg}, sp_el0"),
            Value::Address(s, off) => format!(
                "adrp x{reg}, __plugsched_vmlinux_{s}+{off:#x}\\n\\t\
                 add x{reg}, x{reg}, :lo12:__plugsched_vmlinux_{s}+{off:#x}"
            ),
            Value::Const(v) => format!("mov x{reg}, #{v:#x}"),
        }
    }
}
