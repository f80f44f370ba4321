// SPDX-License-Identifier: GPL-2.0

//! The arm64 instructions of the escape analysis ([`super::follow`]):
//! which form an address of the module's (`add xN, xN, :lo12:sym` after
//! an `adrp`, or `adr`), where branches go (arguments in `x0`-`x7`, the
//! result in `x0`: `blr` is an indirect call, `br` an indirect jump), and
//! the data flow of the others (`step.rs`; a store with `sp` written back
//! is a push).

use super::follow::{
    Callee,
    Flow,
    Isa,
    Regs,
    Site,
    State, //
};
use super::{
    Holders,
    Take, //
};
use crate::arch::arm64::Opcode;
use crate::bind::module::{
    Code64,
    Module,
    Target, //
};

const R_AARCH64_ADR_PREL_LO21: u32 = 274;
const R_AARCH64_ADD_ABS_LO12_NC: u32 = 277;
const R_AARCH64_JUMP26: u32 = 282;
const R_AARCH64_CALL26: u32 = 283;

/// The argument registers `x0`-`x7`.
const ARGS: [Regs; 8] = [1, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5, 1 << 6, 1 << 7];
/// `x0`, the result.
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

/// The arm64 instruction set of the analysis.
pub struct Arm64;

impl Isa for Arm64 {
    const ARGS: &'static [Regs] = &ARGS;
    const RESULT: Regs = X0;
    const CALL_CLOBBERED: Regs = CALL_CLOBBERED;
    const CONDITIONAL_TAIL_CALLS: bool = false;

    fn functions(m: &Module) -> usize {
        m.code64.len()
    }

    fn insns(m: &Module, code: usize) -> usize {
        m.code64[code].insns.len()
    }

    fn function_sym(m: &Module, code: usize) -> usize {
        m.code64[code].sym
    }

    fn flow(m: &Module, code: usize, i: usize) -> Flow {
        let ins = &m.code64[code].insns[i];
        let op = ins.opcode();
        match op {
            Some(Opcode::BL | Opcode::BLR) => Flow::Call,
            Some(Opcode::RET | Opcode::RETAA | Opcode::RETAB) => Flow::Return,
            Some(Opcode::B) => Flow::Jump,
            Some(Opcode::Bcc(_) | Opcode::CBZ | Opcode::CBNZ | Opcode::TBZ | Opcode::TBNZ) => {
                Flow::CondJump
            }
            _ if ins.ends_flow() && op != Some(Opcode::UDF) => Flow::IndirectJump,
            Some(Opcode::UDF) => Flow::Stop,
            _ => Flow::Step,
        }
    }

    /// Its relocation (a call to another function) or its own offset
    /// (inside the section).
    fn callee(m: &Module, code: usize, i: usize) -> Option<Callee> {
        let c: &Code64 = &m.code64[code];
        let ins = &c.insns[i];
        let Some(own) = ins.branch_target() else {
            return Some(Callee::Indirect);
        };
        let target = match m.reloc_at(c.sec, ins.addr) {
            Some(r) if matches!(r.rtype, R_AARCH64_CALL26 | R_AARCH64_JUMP26) => {
                let s = &m.syms[r.sym];
                if s.shndx == 0 {
                    return Some(Callee::Vmlinux(s.name.clone()));
                }
                m.target(r, None)?
            }
            _ => Target {
                sec: c.sec,
                offset: own,
            },
        };
        let inside = (target.sec == c.sec)
            .then(|| c.index_of(target.offset))
            .flatten();
        Callee::direct(m, target, inside)
    }

    fn step(
        &mut self,
        site: &Site,
        st: &mut State,
        src: bool,
        stored: &mut Holders,
    ) -> Result<(), String> {
        step::step(site, st, src, stored)
    }
}

mod step;
