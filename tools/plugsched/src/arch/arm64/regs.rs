// SPDX-License-Identifier: GPL-2.0

//! Which general registers an arm64 instruction reads, writes and uses as
//! a memory base, from its decoded operands.  Registers are numbered 0-30
//! (`x0`-`x30`) and [`SP`] for the stack pointer; the zero register is no
//! register.  A direct call reads the argument registers `x0`-`x7` and
//! writes every caller-saved one (`x0`-`x18`, `x30`).

use super::{
    Insn,
    Opcode,
    Operand,
    ZR_SP, //
};

/// The stack pointer's number in a [`Regs`] set.
pub const SP: u16 = 31;

/// A set of registers (bit n: register n).
pub type Regs = u32;

/// The registers of one instruction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Read as a value (not as an address's base).
    pub reads: Regs,
    /// Read as the base or index of a memory operand.
    pub bases: Regs,
    /// Written (fully or partly).
    pub writes: Regs,
    /// Of `writes`, the memory bases written back (`[x0, #8]!`,
    /// `[x0], #8`): still the same pointer, moved.
    pub writeback: Regs,
}

/// Register number `r` of an operand that names the zero register for 31.
fn gpr(r: u16) -> Regs {
    if r == ZR_SP {
        0
    } else {
        1 << r
    }
}

/// Register number `r` of an operand that names `sp` for 31.
fn gpr_or_sp(r: u16) -> Regs {
    1 << r.min(SP)
}

/// How a store names the registers it writes to memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Store {
    /// Index of the first stored register operand (1 for an exclusive
    /// store: its first operand is the status it writes).
    pub first: usize,
    /// How many registers it stores (2 for a pair).
    pub count: usize,
}

/// The kind of store `op` is, if it is one.
pub fn store(op: Opcode) -> Option<Store> {
    use Opcode::*;
    let (first, count) = match op {
        STR | STRB | STRH | STRW | STUR | STURB | STURH | STTR | STTRB | STTRH | STLR | STLLR
        | STLRB | STLLRB | STLRH | STLLRH | STLUR | STLURB | STLURH => (0, 1),
        STP | STNP => (0, 2),
        STXR | STXRB | STXRH | STLXR | STLXRB | STLXRH => (1, 1),
        STXP | STLXP => (1, 2),
        _ => return None,
    };
    Some(Store { first, count })
}

/// Whether the opcode reads its first register operand without writing
/// it (compare-and-branch, indirect branches, `msr`, `ccmp`).
fn reads_first(op: Opcode) -> bool {
    matches!(
        op,
        Opcode::CBZ
            | Opcode::CBNZ
            | Opcode::TBZ
            | Opcode::TBNZ
            | Opcode::BR
            | Opcode::BLR
            | Opcode::RET
            | Opcode::MSR
            | Opcode::CCMP
            | Opcode::CCMN
    )
}

/// The registers `i` reads, writes and addresses memory with.
pub fn effects(i: &Insn) -> Effects {
    let Some(op) = i.opcode() else {
        return Effects::default();
    };
    let mut e = Effects::default();
    if matches!(op, Opcode::BL | Opcode::BLR) {
        e.reads = 0xff;
        e.writes = 0x7_ffff | (1 << 30);
    }
    if op == Opcode::BL {
        return e;
    }
    let pair = matches!(op, Opcode::LDP | Opcode::LDPSW);
    let st = store(op);
    for (n, o) in i.operands().iter().enumerate() {
        // Written: a load's (pair's) destination, a store's status, the
        // first operand of the others; a store's data is read.
        let dest = match st {
            Some(s) => n < s.first,
            None => !reads_first(op) && (n == 0 || (n == 1 && pair)),
        };
        let bit = match *o {
            Operand::Register(_, r) => gpr(r),
            Operand::RegisterOrSP(_, r) => gpr_or_sp(r),
            _ => {
                other_operand(o, &mut e);
                continue;
            }
        };
        if dest {
            e.writes |= bit;
            if matches!(op, Opcode::MOVK | Opcode::BFM) {
                e.reads |= bit;
            }
        } else {
            e.reads |= bit;
        }
    }
    e
}

/// The registers of an operand that is no plain register: shifted (read),
/// a pair (read and written), or memory (bases, and written back).
fn other_operand(o: &Operand, e: &mut Effects) {
    let (bases, wb) = match *o {
        Operand::RegisterPair(_, r) => {
            // casp-style pairs: read and written.
            e.reads |= gpr(r) | gpr(r + 1);
            e.writes |= gpr(r) | gpr(r + 1);
            return;
        }
        Operand::RegShift(_, _, _, r) => {
            e.reads |= gpr(r);
            return;
        }
        Operand::RegPreIndex(b, _, wb) => (gpr_or_sp(b), if wb { gpr_or_sp(b) } else { 0 }),
        Operand::RegPostIndex(b, _) => (gpr_or_sp(b), gpr_or_sp(b)),
        Operand::RegRegOffset(b, x, ..) => (gpr_or_sp(b) | gpr(x), 0),
        Operand::RegPostIndexReg(b, x) => (gpr_or_sp(b) | gpr(x), gpr_or_sp(b)),
        _ => return,
    };
    e.bases |= bases;
    e.writes |= wb;
    e.writeback |= wb;
}
