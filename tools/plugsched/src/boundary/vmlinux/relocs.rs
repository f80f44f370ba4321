// SPDX-License-Identifier: GPL-2.0

//! Phase 3 with relocations (`vmlinux.unstripped`, which x86 links with
//! `--emit-relocs`): every relocation of the counted code and data
//! sections names what the bytes it patched point at.
//!
//! * In data, an absolute relocation is a pointer: to a function (address
//!   taken: ops tables, registration structures) or into a variable (the
//!   variable is referenced by other data).  Relative ones in data are
//!   tables of offsets (kallsyms, ksymtab) and do not count.
//! * In code, a relocation is an operand of the instruction it falls in:
//!   of a call or jump (an edge, already taken from the decoded code), or
//!   the use of a variable by the function, or a function's address taken.

use iced_x86::Instruction;
use object::{
    Object,
    ObjectSection,
    ObjectSymbol,
    Relocation,
    RelocationKind,
    RelocationTarget, //
};

use super::super::algo::{
    FuncId,
    Graph, //
};
use super::sections::{
    is_counted_code,
    is_counted_data, //
};
use super::symbols::Symbols;
use super::{
    code,
    code_arm64, //
};
use crate::arch::Arch;

/// One relocation of code.
struct CodeReloc {
    /// Address of the patched field.
    at: u64,
    /// Whether the field holds the target minus its own address.
    pcrel: bool,
    /// Symbol plus addend.
    target: u64,
}

/// Read the relocations of the counted sections into `g`.
pub(super) fn read(obj: &object::File<'_>, arch: Arch, syms: &Symbols, g: &mut Graph) {
    for sec in obj.sections() {
        // (vmlinux's .data is WAX: go by name, not by flags.)
        let name = sec.name().unwrap_or("");
        if is_counted_code(name) {
            match arch {
                Arch::X86_64 => code_section(obj, &sec, syms, g),
                Arch::Aarch64 => code_section_arm64(obj, &sec, syms, g),
            }
        } else if is_counted_data(name) {
            data_section(obj, &sec, syms, g);
        }
    }
}

/// Absolute relocations of data: pointers.
fn data_section(
    obj: &object::File<'_>,
    sec: &object::Section<'_, '_>,
    syms: &Symbols,
    g: &mut Graph,
) {
    for (_, rel) in sec.relocations() {
        if rel.kind() != RelocationKind::Absolute {
            continue;
        }
        if let Some(target) = target(obj, &rel) {
            super::pointer_in_data(syms, target, g);
        }
    }
}

/// The relocations of a code section, sorted by the address they patch.
fn code_relocs(obj: &object::File<'_>, sec: &object::Section<'_, '_>) -> Vec<CodeReloc> {
    let mut relocs: Vec<CodeReloc> = sec
        .relocations()
        .filter_map(|(off, rel)| {
            Some(CodeReloc {
                at: address(obj, sec, off),
                pcrel: rel.kind() != RelocationKind::Absolute,
                target: target(obj, &rel)?,
            })
        })
        .collect();
    relocs.sort_by_key(|r| r.at);
    relocs
}

/// Call `f` for every function piece of code section `sec` that has
/// relocations: the section's bytes and address, the piece, and the
/// piece's relocations in address order.
fn for_each_relocated_piece(
    obj: &object::File<'_>,
    sec: &object::Section<'_, '_>,
    syms: &Symbols,
    g: &mut Graph,
    mut f: impl FnMut(&[u8], u64, &code::Piece, &[CodeReloc], &mut Graph),
) {
    let (Ok(bytes), Ok(name)) = (sec.data(), sec.name()) else {
        return;
    };
    let relocs = code_relocs(obj, sec);
    let base = sec.address();
    for piece in code::pieces(g, syms, name, base, bytes.len() as u64) {
        let from = relocs.partition_point(|r| r.at < piece.addr);
        let to = relocs.partition_point(|r| r.at < piece.addr + piece.size);
        if from < to {
            f(bytes, base, &piece, &relocs[from..to], g);
        }
    }
}

/// arm64: a relocation of an instruction names its operand exactly (the
/// symbol plus addend of `adrp`'s page relocation is the whole address,
/// not the page); branches are edges, taken from the decoded code.
fn code_section_arm64(
    obj: &object::File<'_>,
    sec: &object::Section<'_, '_>,
    syms: &Symbols,
    g: &mut Graph,
) {
    for_each_relocated_piece(obj, sec, syms, g, |bytes, base, piece, relocs, g| {
        let insns = code_arm64::decode(bytes, base, piece);
        for r in relocs {
            let k = ((r.at - piece.addr) / 4) as usize;
            if insns.get(k).is_some_and(|i| i.branch_target().is_some()) {
                continue;
            }
            reference(r.target, piece.func, syms, g);
        }
    });
}

/// Relocations of code, each applied to the instruction it falls in.
fn code_section(
    obj: &object::File<'_>,
    sec: &object::Section<'_, '_>,
    syms: &Symbols,
    g: &mut Graph,
) {
    for_each_relocated_piece(obj, sec, syms, g, |bytes, base, piece, relocs, g| {
        let mut rs = relocs.iter().peekable();
        let mut dec = code::decoder(bytes, base, piece);
        while rs.peek().is_some() && dec.can_decode() {
            let ins = dec.decode();
            while let Some(r) = rs.next_if(|r| r.at < ins.next_ip()) {
                operand(&ins, r, piece.func, syms, g);
            }
        }
    });
}

/// A relocated operand of `ins`, an instruction of function `caller` (or
/// of assembly code).  A PC-relative field holds the target minus the
/// field's address; the CPU adds the next instruction's: the operand names
/// `target + (next_ip - at)` (the addend's bias is -4 only when the field
/// ends the instruction, not for `cmpb $0, var(%rip)`).
fn operand(
    ins: &Instruction,
    r: &CodeReloc,
    caller: Option<FuncId>,
    syms: &Symbols,
    g: &mut Graph,
) {
    // A call or jump is an edge, taken from the decoded code.
    if code::branch_target(ins).is_some() {
        return;
    }
    let addr = if r.pcrel {
        r.target.wrapping_add(ins.next_ip() - r.at)
    } else {
        r.target
    };
    reference(addr, caller, syms, g);
}

/// Code of `caller` (or assembly code) refers to `addr`.
fn reference(addr: u64, caller: Option<FuncId>, syms: &Symbols, g: &mut Graph) {
    if let Some(z) = syms.funcs.at(addr) {
        g.address_taken.insert(z);
    }
    if let (Some(f), Some(v)) = (caller, syms.vars.containing(addr)) {
        g.var_refs.insert((f, v));
    }
}

/// The address a relocation's bytes point at: its symbol plus addend.
fn target(obj: &object::File<'_>, rel: &Relocation) -> Option<u64> {
    let RelocationTarget::Symbol(si) = rel.target() else {
        return None;
    };
    let s = obj.symbol_by_index(si).ok()?;
    Some(s.address().wrapping_add(rel.addend() as u64))
}

/// The address of the field a relocation patches: `r_offset` is a section
/// offset in relocatable files and an address in linked ones
/// (--emit-relocs).
fn address(obj: &object::File<'_>, sec: &object::Section<'_, '_>, off: u64) -> u64 {
    match obj.kind() {
        object::ObjectKind::Relocatable => sec.address() + off,
        _ => off,
    }
}
