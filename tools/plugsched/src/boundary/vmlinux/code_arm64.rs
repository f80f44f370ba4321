// SPDX-License-Identifier: GPL-2.0

//! Phase 2 on arm64: the same facts as [`super::code`] reads from x86
//! code, from arm64 instructions.  Calls and tail calls are `bl` and `b`
//! (and conditional branches) to a function's start; an address is formed
//! by `adrp` + `add` or `adr` (taken: a function's, a variable's, a string
//! literal's) or `adrp` + a load or store (a use of the variable there).
//! An address formed into a register that the following code only uses as
//! a memory base (`ldr x0, [x8, x9, lsl #3]` of a table) is a use, not a
//! taken address, as `mov table(,%rax,8)` is on x86.

use std::collections::HashMap;

use super::super::algo::{
    FuncId,
    Graph, //
};
use super::code::{
    for_each_piece,
    Piece, //
};
use super::symbols::Symbols;
use super::RefSource;
use crate::arch::arm64::addr::{
    formed,
    Formed, //
};
use crate::arch::arm64::regs::effects;
use crate::arch::arm64::{
    self,
    Insn,
    Opcode, //
};

/// How many instructions the uses of a formed address are followed.
const BUDGET: usize = 512;

/// Decode every piece of every code section into `g`.
pub(super) fn walk(obj: &object::File<'_>, syms: &Symbols, refs: RefSource, g: &mut Graph) {
    // (An image whose jump table cannot be read is walked without it.)
    let labels = crate::jump_table::read(obj).unwrap_or_default();
    for_each_piece(obj, syms, refs, g, |bytes, base, piece, uses, g| {
        let insns = decode(bytes, base, piece);
        piece_facts(&insns, &labels, piece.func, syms, uses, g);
    });
}

/// The instructions of `piece`, in its section's `bytes` loaded at `base`.
pub(super) fn decode(bytes: &[u8], base: u64, piece: &Piece) -> Vec<Insn> {
    let off = ((piece.addr - base) as usize).min(bytes.len());
    let end = (off + piece.size as usize).min(bytes.len());
    arm64::decode(&bytes[off..end], piece.addr)
}

/// The facts of one piece (a function, or assembly code for `None`).
fn piece_facts(
    insns: &[Insn],
    labels: &HashMap<u64, u64>,
    func: Option<FuncId>,
    syms: &Symbols,
    uses: bool,
    g: &mut Graph,
) {
    for i in insns {
        if let Some(t) = i.branch_target() {
            if let (Some(caller), Some(z)) = (func, syms.funcs.at(t)) {
                if z != caller {
                    g.calls.insert((caller, z));
                }
            }
        }
    }
    for (k, all) in formed(insns, labels).into_iter().enumerate() {
        for f in all {
            match (f, func) {
                (Formed::Taken { addr, reg }, _) => {
                    let escapes = escapes(insns, labels, k, reg);
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

/// Whether register `reg`, given an address by instruction `k`, is used
/// on some path after it as anything but a memory base before it is
/// overwritten: passed (`x0`-`x7` at a call), returned (`x0`), stored,
/// moved, compared -- or the look stops ([`BUDGET`] instructions).  Both
/// ways of a static-branch site (`labels`) are followed.
pub(super) fn escapes(insns: &[Insn], labels: &HashMap<u64, u64>, k: usize, reg: u16) -> bool {
    let bit = 1u32 << reg.min(31);
    let index = |a: u64| {
        let first = insns.first()?.addr;
        let i = usize::try_from(a.checked_sub(first)? / 4).ok()?;
        (i < insns.len()).then_some(i)
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut work = vec![k + 1];
    while let Some(i) = work.pop() {
        let Some(ins) = insns.get(i) else { continue };
        if !seen.insert(i) {
            continue;
        }
        if seen.len() > BUDGET {
            return true;
        }
        let e = effects(ins);
        if e.reads & bit != 0 || (ins.opcode() == Some(Opcode::RET) && reg == 0) {
            return true;
        }
        // (Overwritten, unless only moved by a written-back access.)
        if e.writes & !e.writeback & bit != 0 {
            continue;
        }
        // A static-branch site goes either way, whatever it holds now.
        if let Some(&t) = labels.get(&ins.addr) {
            work.extend(index(t).into_iter().chain([i + 1]));
        }
        match (ins.opcode(), ins.branch_target().map(index)) {
            // A tail call out of the function passes x0-x7.
            (Some(Opcode::B), Some(None)) if reg < 8 => return true,
            (Some(Opcode::B), Some(t)) => work.extend(t),
            (_, Some(t)) if !ins.is_call() => work.extend(t.into_iter().chain([i + 1])),
            _ if ins.ends_flow() => {}
            _ => work.push(i + 1),
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::arm64::tests::bytes;

    fn escapes_in(words: &[u32], reg: u16) -> bool {
        escapes(
            &arm64::decode(&bytes(words), 0x1000),
            &HashMap::new(),
            0,
            reg,
        )
    }

    #[test]
    fn a_table_base_is_no_taken_address() {
        // add x21, x21, #0x280; cbz w20, +8; b +8; ldr x2, [x21, x22, lsl #3]; ret
        let table = [0x9100a2b5, 0x34000054, 0x14000002, 0xf8767aa2, 0xd65f03c0];
        assert!(!escapes_in(&table, 21));
        // ... the same, but x21 passed to a call: mov x0, x21; bl
        let passed = [0x9100a2b5, 0x34000054, 0x14000002, 0xaa1503e0, 0x94000000];
        assert!(escapes_in(&passed, 21));
        // add x0, x0, #0x10; ret: returned.
        assert!(escapes_in(&[0x91004000, 0xd65f03c0], 0));
        // add x8, x8, #0x10; str x8, [x19]: stored.
        assert!(escapes_in(&[0x91004108, 0xf9000268], 8));
        // add x8, x8, #0x10; ldr x0, [x8]; mov x8, #1; mov x0, x8; ret
        let reused = [0x91004108, 0xf9400100, 0xd2800028, 0xaa0803e0, 0xd65f03c0];
        assert!(!escapes_in(&reused, 8));
    }
}
