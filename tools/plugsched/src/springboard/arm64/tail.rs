// SPDX-License-Identifier: GPL-2.0

//! What the tail of vmlinux's arm64 `__schedule` (every path from the
//! instruction after `bl __switch_to` to a return) reads that the top half
//! computed.  The switch restores `x19`-`x28`, `x29`, `sp` of the task
//! (`cpu_switch_to`), so a callee-saved register the tail reads before
//! writing it holds what the top half left there: under the split, what
//! the module's top half left.  Those registers are returned (the
//! springboard must set them, [`super::remat`]); `x0` is `prev`, the
//! caller-saved registers are the call's; a stack slot read is allowed
//! only if it is the canary or a slot the prologue saved a register in.

use std::collections::BTreeSet;

use anyhow::{
    bail,
    Result, //
};

use super::flow::Func;
use super::prologue::Prologue;
use crate::arch::arm64::regs::{
    effects,
    store,
    Regs,
    SP, //
};
use crate::arch::arm64::{
    Insn,
    Opcode,
    Operand,
    FP,
    HINT_AUTIASP, //
};

/// Registers defined right after the call: `x0` (`prev`), the
/// caller-saved ones (the call's), `x29`, `x30`, `sp`.
const DEFINED_AFTER_CALL: Regs = 0x7_ffff | (1 << FP) | (1 << 30) | (1 << SP);

/// What the tail needs of the top half.
#[derive(Debug, Default)]
pub struct Tail {
    /// Callee-saved registers read before the tail writes them.
    pub live_in: Regs,
    /// Every return of the tail authenticates `x30` (`autiasp` or
    /// `retaa` on its path).
    pub authenticates: bool,
}

/// Follow every path from instruction `start` (after the call), with `sp`
/// entry-relative `sp0` there.
pub fn follow(f: &Func<'_>, start: usize, sp0: i64, p: &Prologue) -> Result<Tail> {
    let mut tail = Tail {
        authenticates: true,
        ..Default::default()
    };
    let mut seen = BTreeSet::new();
    let mut work = vec![(start, DEFINED_AFTER_CALL, sp0, false)];
    while let Some((k, mut written, sp, mut auth)) = work.pop() {
        if !seen.insert((k, written, sp, auth)) {
            continue;
        }
        let i = &f.insns[k];
        auth |= i.hint() == Some(HINT_AUTIASP);
        // (`retaa` authenticates by itself.)
        if i.opcode() == Some(Opcode::RET) {
            tail.authenticates &= auth;
        }
        let e = effects(i);
        tail.live_in |= (e.reads | e.bases) & !written & !(1 << SP);
        slots(f, i, sp, p)?;
        written |= e.writes;
        let after = f.sp_after(i, sp)?;
        for s in f.successors(k)? {
            work.push((s, written, after, auth));
        }
    }
    Ok(tail)
}

/// Check the stack slots `i` loads from (`sp` entry-relative `sp`).
fn slots(f: &Func<'_>, i: &Insn, sp: i64, p: &Prologue) -> Result<()> {
    // (Every load is `ld*`: what no store writes through a memory operand
    // it reads.)
    let loads = i.opcode().is_some_and(|o| store(o).is_none())
        && i.operands().iter().any(|o| {
            matches!(
                o,
                Operand::RegPreIndex(..) | Operand::RegPostIndex(..) | Operand::RegRegOffset(..)
            )
        });
    if !loads {
        return Ok(());
    }
    let pair = i
        .operands()
        .iter()
        .filter(|o| matches!(o, Operand::Register(..)))
        .count();
    for o in i.operands() {
        let (base, off) = match *o {
            Operand::RegPreIndex(b, off, _) => (b, i64::from(off)),
            Operand::RegPostIndex(b, _) => (b, 0),
            Operand::RegRegOffset(b, ..) if b == SP || b == FP => {
                bail!("tail: {} indexes a stack slot of the top half", i.show())
            }
            _ => continue,
        };
        let fp_rel = match base {
            SP => sp + off - f.fp,
            FP => off,
            _ => continue,
        };
        for k in 0..pair.max(1) as i64 {
            let slot = fp_rel + 8 * k;
            let saved = p.saves.iter().any(|&(_, a)| a == slot);
            let canary = p.canary.is_some_and(|(c, _)| c == slot);
            if !saved && !canary {
                bail!(
                    "tail: {} reads the stack slot x29{slot:+#x}, a local of the top half",
                    i.show()
                );
            }
        }
    }
    Ok(())
}
