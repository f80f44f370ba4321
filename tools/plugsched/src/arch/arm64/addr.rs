// SPDX-License-Identifier: GPL-2.0

//! The addresses arm64 code forms: `adrp xN, page` then `add xM, xN,
//! #lo12` (an address taken), or `ldr`/`str` with `[xN, #lo12]` (a use of
//! the memory there), or `adr xN, label`.  [`Pages`] follows the page
//! each register holds along the instructions of one function, in address
//! order; a register's page is forgotten when anything else writes it,
//! and every page is forgotten at a branch target... which a linear scan
//! does not know, so at every branch instead (the compiler keeps an `adrp`
//! and its low half together in practice).

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

/// The page (or full address) each register holds.
#[derive(Clone, Debug, Default)]
pub struct Pages {
    regs: [Option<u64>; 32],
}

/// The immediate of `add xd, xn, #imm` (shifted if need be).
fn add_imm(o: &Operand) -> Option<u64> {
    match *o {
        Operand::Immediate(v) => Some(u64::from(v)),
        Operand::ImmShift(v, s) => Some(u64::from(v) << s),
        _ => None,
    }
}

impl Pages {
    /// Step over `i`: what address it forms, if any.
    pub fn step(&mut self, i: &Insn) -> Option<Formed> {
        let ops = i.operands();
        let formed = match (i.opcode()?, ops) {
            (Opcode::ADRP, [Operand::Register(_, d), Operand::PCOffset(off), ..]) => {
                let page = (i.addr & !0xfff).wrapping_add(*off as u64);
                self.forget(i);
                self.regs[usize::from(*d).min(31)] = Some(page);
                return None;
            }
            (Opcode::ADR, [Operand::Register(_, d), Operand::PCOffset(off), ..]) => {
                Some(Formed::Taken {
                    addr: i.addr.wrapping_add(*off as u64),
                    reg: *d,
                })
            }
            (Opcode::ADD, [Operand::RegisterOrSP(_, d), Operand::RegisterOrSP(_, n), imm, ..]) => {
                self.page(*n).zip(add_imm(imm)).map(|(p, v)| Formed::Taken {
                    addr: p.wrapping_add(v),
                    reg: *d,
                })
            }
            (_, [_, Operand::RegPreIndex(b, off, false), ..])
            | (_, [_, _, Operand::RegPreIndex(b, off, false), ..]) => {
                self.page(*b).map(|p| Formed::Used {
                    addr: p.wrapping_add(i64::from(*off) as u64),
                })
            }
            _ => None,
        };
        self.forget(i);
        if i.branch_target().is_some() || i.ends_flow() {
            self.regs = [None; 32];
        }
        formed
    }

    /// The page register `r` holds (never `sp`).
    fn page(&self, r: u16) -> Option<u64> {
        (r < SP).then(|| self.regs[usize::from(r)]).flatten()
    }

    /// Forget the registers `i` writes.
    fn forget(&mut self, i: &Insn) {
        let w = effects(i).writes;
        for (r, p) in self.regs.iter_mut().enumerate() {
            if w & (1 << r) != 0 {
                *p = None;
            }
        }
    }
}
