// SPDX-License-Identifier: GPL-2.0

//! Phase 2 on arm64: the same facts as [`super::code`] reads from x86
//! code, from arm64 instructions.  Calls and tail calls are `bl` and `b`
//! (and conditional branches) to a function's start; an address is formed
//! by `adrp` + `add` or `adr` (taken: a function's, a variable's, a string
//! literal's) or `adrp` + a load or store (a use of the variable there).
//! An address formed into a register that the following code only uses as
//! a memory base (`ldr x0, [x8, x9, lsl #3]` of a table) is a use, not a
//! taken address, as `mov table(,%rax,8)` is on x86.

use object::{
    Object,
    ObjectSection,
    SectionKind, //
};

use super::super::algo::{
    FuncId,
    Graph, //
};
use super::code::{
    pieces,
    Piece, //
};
use super::sections::is_counted_code;
use super::symbols::Symbols;
use super::RefSource;
use crate::arch::arm64::addr::{
    Formed,
    Pages, //
};
use crate::arch::arm64::regs::effects;
use crate::arch::arm64::{
    self,
    Insn, //
};

/// How far the uses of a formed address are followed.
const WINDOW: usize = 24;

/// Decode every piece of every code section into `g`.
pub(super) fn walk(obj: &object::File<'_>, syms: &Symbols, refs: RefSource, g: &mut Graph) {
    for sec in obj.sections() {
        if sec.kind() != SectionKind::Text {
            continue;
        }
        let (Ok(bytes), Ok(name)) = (sec.data(), sec.name()) else {
            continue;
        };
        let uses = refs == RefSource::Bytes && is_counted_code(name);
        let base = sec.address();
        for piece in pieces(g, syms, name, base, bytes.len() as u64) {
            let insns = decode(bytes, base, &piece);
            piece_facts(&insns, piece.func, syms, uses, g);
        }
    }
}

/// The instructions of `piece`, in its section's `bytes` loaded at `base`.
pub(super) fn decode(bytes: &[u8], base: u64, piece: &Piece) -> Vec<Insn> {
    let off = ((piece.addr - base) as usize).min(bytes.len());
    let end = (off + piece.size as usize).min(bytes.len());
    arm64::decode(&bytes[off..end], piece.addr)
}

/// The facts of one piece (a function, or assembly code for `None`).
fn piece_facts(insns: &[Insn], func: Option<FuncId>, syms: &Symbols, uses: bool, g: &mut Graph) {
    let mut pages = Pages::default();
    for (k, i) in insns.iter().enumerate() {
        if let Some(t) = i.branch_target() {
            if let (Some(caller), Some(z)) = (func, syms.funcs.at(t)) {
                if z != caller {
                    g.calls.insert((caller, z));
                }
            }
        }
        let Some(formed) = pages.step(i) else {
            continue;
        };
        match (formed, func) {
            (Formed::Taken { addr, reg }, _) => {
                let escapes = escapes(&insns[k + 1..], reg);
                taken(addr, escapes, func, syms, uses, g);
            }
            (Formed::Used { addr }, Some(f)) if uses => {
                if let Some(v) = syms.vars.containing(addr) {
                    g.var_refs.insert((f, v));
                }
            }
            _ => {}
        }
    }
}

/// An address formed into a register by a function (or assembly code):
/// a function's start is address-taken; a variable's address is taken if
/// it `escapes` (else it is only used); a constant's is a literal taken.
fn taken(
    addr: u64,
    escapes: bool,
    func: Option<FuncId>,
    syms: &Symbols,
    uses: bool,
    g: &mut Graph,
) {
    if let Some(z) = syms.funcs.at(addr) {
        g.address_taken.insert(z);
    }
    let Some(caller) = func else { return };
    if let Some(var) = syms.vars.containing(addr) {
        if escapes {
            g.var_addr_taken.insert((caller, var));
        }
        if uses {
            g.var_refs.insert((caller, var));
        }
    } else if syms.layout.is_const(addr) {
        g.const_refs.push((caller, addr));
    }
}

/// Whether register `reg`, just given an address, is used by `rest` as
/// anything but a memory base before it is overwritten: passed, stored,
/// moved, compared, or still live where the straight-line look stops.
pub(super) fn escapes(rest: &[Insn], reg: u16) -> bool {
    let bit = 1u32 << reg.min(31);
    for i in rest.iter().take(WINDOW) {
        let e = effects(i);
        if e.reads & bit != 0 {
            return true;
        }
        if e.writes & bit != 0 && e.bases & bit == 0 {
            return false;
        }
        if i.ends_flow() {
            return true;
        }
    }
    true
}
