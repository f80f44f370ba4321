// SPDX-License-Identifier: GPL-2.0

//! [`super::escape`] for arm64 code: where an address of the module's
//! own memory goes once its code has formed it (`add xN, xN,
//! :lo12:sym` after an `adrp`, or `adr`), through registers and stack
//! slots, into the module's functions it is passed to (`x0`-`x7`) and
//! back to the callers of a function that returns it (`x0`).  It leaves
//! the module in the same cases: passed to a vmlinux function that may
//! keep it, to an indirect call (`blr`), reaching an indirect jump (`br`),
//! stored anywhere but in the object itself, on the stack or in a module
//! variable, pushed (a store with `sp` written back), or returned by a
//! function code outside the module calls.  A value loaded through the
//! address (`ldr x1, [x0]`) is not the address; `add x1, x0, #8` is.

use std::collections::{
    BTreeMap,
    BTreeSet, //
};

use super::escape::{
    Holders,
    Take,
    MAX_DEPTH, //
};
use super::keeps::{
    keeps_nothing_of,
    RETURN_FIRST, //
};
use super::module::{
    Code64,
    Module,
    Target, //
};
use crate::arch::arm64::regs::{
    effects,
    Regs,
    SP, //
};
use crate::arch::arm64::{
    Insn,
    Opcode,
    Operand,
    FP, //
};

const R_AARCH64_ADR_PREL_LO21: u32 = 274;
const R_AARCH64_ADD_ABS_LO12_NC: u32 = 277;
const R_AARCH64_JUMP26: u32 = 282;
const R_AARCH64_CALL26: u32 = 283;

/// The argument registers `x0`-`x7`, and `x0`, the result.
const ARGS: Regs = 0xff;
const X0: Regs = 1;
/// What a call may change: `x0`-`x18`, `x30`.
const CALL_CLOBBERED: Regs = 0x7_ffff | (1 << 30);

/// Every instruction forming the address of a symbol the module defines
/// (other than its own function's: `_THIS_IP_`) or of a string literal.
pub fn takes(m: &Module) -> Vec<Take> {
    let mut out = Vec::new();
    for (ci, c) in m.code64.iter().enumerate() {
        for (i, ins) in c.insns.iter().enumerate() {
            let Some(r) = m.reloc_at(c.sec, ins.addr) else {
                continue;
            };
            if !matches!(r.rtype, R_AARCH64_ADD_ABS_LO12_NC | R_AARCH64_ADR_PREL_LO21)
                || !matches!(ins.opcode(), Some(Opcode::ADD | Opcode::ADR))
            {
                continue;
            }
            let Some(t) = m.target(r, None) else { continue };
            let sym = m.symbol_at(t);
            if sym == Some(c.sym) || (sym.is_none() && !m.is_string_section(t.sec)) {
                continue;
            }
            out.push(Take {
                code: ci,
                insn: i,
                target: t,
                sym,
            });
        }
    }
    out
}

/// Where the address is: registers and stack slots (base, offset).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct State {
    regs: Regs,
    slots: BTreeSet<(u16, i64)>,
}

impl State {
    fn is_empty(&self) -> bool {
        self.regs == 0 && self.slots.is_empty()
    }

    fn merge(&mut self, o: &State) -> bool {
        let before = (self.regs, self.slots.len());
        self.regs |= o.regs;
        self.slots.extend(o.slots.iter().copied());
        before != (self.regs, self.slots.len())
    }
}

/// How one function run ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Outcome {
    returns: bool,
    escapes: Option<String>,
    stored: BTreeSet<usize>,
}

impl Outcome {
    fn escaped(how: String) -> Self {
        Outcome {
            escapes: Some(how),
            ..Default::default()
        }
    }
}

/// Where a branch goes.
enum Callee {
    Inside(usize),
    Module(usize),
    Vmlinux(String),
    Indirect,
}

/// The analysis over one module.
pub struct Follow<'m> {
    m: &'m Module,
    memo: BTreeMap<(usize, Regs), Outcome>,
    callers: BTreeMap<usize, Vec<(usize, usize)>>,
    called_from_outside: BTreeSet<usize>,
    bound: BTreeSet<usize>,
}

mod flow;
mod step;
