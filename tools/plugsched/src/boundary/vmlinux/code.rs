// SPDX-License-Identifier: GPL-2.0

//! Phase 2: the machine code, the same with relocations or without.  Every
//! function of every code section is decoded (iced-x86): its direct calls
//! and tail calls (calls to `static` functions of the same object carry no
//! relocation, so relocations alone would miss them), the functions whose
//! address it takes (a RIP-relative or immediate operand at a function's
//! start), the variables whose address it takes (a `lea`, an immediate)
//! rather than loads or stores, and the constant data without a symbol
//! (string literals) it takes.  The assembly code of the counted sections
//! is decoded for the functions whose address it takes.  Without
//! relocations, the operands also give every variable a function uses
//! ([`operand_addresses`]).

use iced_x86::{
    Decoder,
    DecoderOptions,
    FlowControl,
    Instruction,
    Mnemonic,
    OpKind, //
};
use object::{
    Object,
    ObjectSection,
    SectionKind, //
};

use super::super::algo::{
    FuncId,
    Graph, //
};
use super::sections::is_counted_code;
use super::symbols::Symbols;
use super::RefSource;

/// A piece of code whose instructions are read: a function, or assembly
/// code under a symbol of no function type (`func` is `None`).
pub(super) struct Piece {
    pub(super) addr: u64,
    pub(super) size: u64,
    pub(super) func: Option<FuncId>,
}

/// The pieces of a code section loaded at `base`, `len` bytes long:
/// every function, and in the counted sections the assembly code too.
/// Code under no symbol at all (the body of an overridden `__weak`
/// function, which the linker keeps but nothing calls) is not read.
pub(super) fn pieces(g: &Graph, syms: &Symbols, name: &str, base: u64, len: u64) -> Vec<Piece> {
    let mut out: Vec<Piece> = syms
        .funcs
        .starting_in(base, base + len)
        .map(|f| Piece {
            addr: g.funcs[f].addr,
            size: g.funcs[f].size,
            func: Some(f),
        })
        .collect();
    if is_counted_code(name) {
        out.extend(
            syms.asm
                .iter()
                .filter(|&&(a, _)| a >= base && a < base + len)
                .map(|&(addr, size)| Piece {
                    addr,
                    size,
                    func: None,
                }),
        );
    }
    out
}

/// A decoder of the instructions of `piece`, in its section's `bytes`
/// loaded at `base`.
pub(super) fn decoder<'b>(bytes: &'b [u8], base: u64, piece: &Piece) -> Decoder<'b> {
    let off = ((piece.addr - base) as usize).min(bytes.len());
    let end = (off + piece.size as usize).min(bytes.len());
    Decoder::with_ip(64, &bytes[off..end], piece.addr, DecoderOptions::NONE)
}

/// Call `f` for every piece of every code section, of either instruction
/// set: the section's bytes and address, the piece, and whether its
/// operands give the uses of variables.
pub(super) fn for_each_piece(
    obj: &object::File<'_>,
    syms: &Symbols,
    refs: RefSource,
    g: &mut Graph,
    mut f: impl FnMut(&[u8], u64, &Piece, bool, &mut Graph),
) {
    for sec in obj.sections() {
        if sec.kind() != SectionKind::Text {
            continue;
        }
        let (Ok(bytes), Ok(name)) = (sec.data(), sec.name()) else {
            continue;
        };
        // Without relocations, the uses of variables come from the
        // operands of the code whose relocations would count.
        let uses = refs == RefSource::Bytes && is_counted_code(name);
        let base = sec.address();
        for piece in pieces(g, syms, name, base, bytes.len() as u64) {
            f(bytes, base, &piece, uses, g);
        }
    }
}

/// Decode every piece of every code section into `g`.
pub(super) fn walk(obj: &object::File<'_>, syms: &Symbols, refs: RefSource, g: &mut Graph) {
    for_each_piece(obj, syms, refs, g, |bytes, base, piece, uses, g| {
        let mut dec = decoder(bytes, base, piece);
        while dec.can_decode() {
            let ins = dec.decode();
            match piece.func {
                Some(caller) => instruction(&ins, caller, syms, uses, g),
                None => asm_instruction(&ins, syms, g),
            }
        }
    });
}

/// What one instruction of assembly code takes: functions' addresses.
/// (It is no function of the graph: its calls are no edges, its uses of
/// variables no one's, with relocations or without.)
fn asm_instruction(ins: &Instruction, syms: &Symbols, g: &mut Graph) {
    if branch_target(ins).is_some() {
        return;
    }
    let ip_rel = ins
        .is_ip_rel_memory_operand()
        .then(|| ins.ip_rel_memory_address());
    for a in ip_rel.into_iter().chain(taken_addresses(ins)) {
        if let Some(z) = syms.funcs.at(a) {
            g.address_taken.insert(z);
        }
    }
}

/// What one instruction of `caller` calls, takes and (with `uses`) uses.
fn instruction(ins: &Instruction, caller: FuncId, syms: &Symbols, uses: bool, g: &mut Graph) {
    if let Some(t) = branch_target(ins) {
        // Jumps inside the same function are not edges.
        if let Some(z) = syms.funcs.at(t) {
            if z != caller {
                g.calls.insert((caller, z));
            }
        }
        return;
    }
    if ins.is_ip_rel_memory_operand() {
        if let Some(z) = syms.funcs.at(ins.ip_rel_memory_address()) {
            g.address_taken.insert(z);
        }
    }
    for v in taken_addresses(ins) {
        if let Some(z) = syms.funcs.at(v) {
            g.address_taken.insert(z);
        }
        if let Some(var) = syms.vars.containing(v) {
            g.var_addr_taken.insert((caller, var));
        } else if syms.layout.is_const(v) {
            g.const_refs.push((caller, v));
        }
    }
    if uses {
        for a in operand_addresses(ins) {
            if let Some(var) = syms.vars.containing(a) {
                g.var_refs.insert((caller, var));
            }
        }
    }
}

/// The target of a direct call, jump or conditional jump.
pub(super) fn branch_target(ins: &Instruction) -> Option<u64> {
    let branch = matches!(
        ins.flow_control(),
        FlowControl::Call | FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch
    );
    (branch && ins.op0_kind() == OpKind::NearBranch64).then(|| ins.near_branch_target())
}

/// The addresses an instruction takes rather than reads or writes: those
/// of a `lea`, and immediates (`mov $sym, %reg`, `movq $sym, 8(%rbx)`).
fn taken_addresses(ins: &Instruction) -> Vec<u64> {
    let mut out = Vec::new();
    if ins.mnemonic() == Mnemonic::Lea {
        out.push(if ins.is_ip_rel_memory_operand() {
            ins.ip_rel_memory_address()
        } else {
            ins.memory_displacement64()
        });
    }
    for op in 0..ins.op_count() {
        match ins.op_kind(op) {
            OpKind::Immediate32to64 => out.push(ins.immediate32to64() as u64),
            OpKind::Immediate64 => out.push(ins.immediate64()),
            OpKind::Immediate32 => out.push(u64::from(ins.immediate32())),
            _ => {}
        }
    }
    out
}

/// Every address an instruction's operands name, what a relocation of
/// the instruction would point at: the target of a RIP-relative memory
/// operand (exact, whatever follows the displacement), the displacement
/// of any other memory operand (absolute addressing, `sym(,%rax,8)`, or a
/// symbol plus a register, per-CPU `sym(%rax)`; a small displacement is a
/// field offset and names no variable), and the immediates.  Branch
/// targets are not among them: a call is not a use of data.
pub(super) fn operand_addresses(ins: &Instruction) -> Vec<u64> {
    let mut out = Vec::new();
    for op in 0..ins.op_count() {
        match ins.op_kind(op) {
            // (For a RIP-relative operand iced gives the target address.)
            OpKind::Memory => out.push(ins.memory_displacement64()),
            OpKind::Immediate32to64 => out.push(ins.immediate32to64() as u64),
            OpKind::Immediate64 => out.push(ins.immediate64()),
            OpKind::Immediate32 => out.push(u64::from(ins.immediate32())),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8], ip: u64) -> Instruction {
        Decoder::with_ip(64, bytes, ip, DecoderOptions::NONE).decode()
    }

    #[test]
    fn operands_name_addresses() {
        // mov 0x100(%rip),%rax at 0x1000: 7 bytes, target 0x1107.
        let i = decode(&[0x48, 0x8b, 0x05, 0x00, 0x01, 0x00, 0x00], 0x1000);
        assert_eq!(operand_addresses(&i), vec![0x1107]);
        // cmpb $0x0,0x100(%rip): the immediate follows the displacement,
        // the target is still next_ip + disp (a relocation's -4 bias
        // would be off by one byte here).
        let i = decode(&[0x80, 0x3d, 0x00, 0x01, 0x00, 0x00, 0x00], 0x1000);
        assert_eq!(operand_addresses(&i), vec![0x1107]);
        // mov -0x7e000000(,%rdi,8),%rax: absolute addressing.
        let i = decode(&[0x48, 0x8b, 0x04, 0xfd, 0x00, 0x00, 0x00, 0x82], 0);
        assert_eq!(operand_addresses(&i), vec![0xffff_ffff_8200_0000]);
        // mov $0xffffffff82000000,%rdi (sign-extended imm32).
        let i = decode(&[0x48, 0xc7, 0xc7, 0x00, 0x00, 0x00, 0x82], 0);
        assert_eq!(operand_addresses(&i), vec![0xffff_ffff_8200_0000]);
        assert_eq!(taken_addresses(&i), vec![0xffff_ffff_8200_0000]);
        // call rel32: a branch, no operand address.
        let i = decode(&[0xe8, 0x00, 0x01, 0x00, 0x00], 0x1000);
        assert_eq!(branch_target(&i), Some(0x1105));
        assert!(operand_addresses(&i).is_empty());
        // mov 0x8(%rbx),%rax: a field offset.
        let i = decode(&[0x48, 0x8b, 0x43, 0x08], 0);
        assert_eq!(operand_addresses(&i), vec![8]);
        assert!(branch_target(&i).is_none());
    }
}
