// SPDX-License-Identifier: GPL-2.0

//! The x86_64 instructions of the escape analysis ([`super::follow`]):
//! which take an address of the module's (`lea sym`, `mov $sym`), where
//! calls and jumps go, and the data flow of the others through registers
//! and stack slots.

use iced_x86::{
    FlowControl,
    InstructionInfoFactory,
    Mnemonic,
    OpAccess,
    OpKind,
    Register, //
};

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
use crate::bind::module::{
    Module,
    Target, //
};
use crate::springboard::CALL_CLOBBERED;

/// Every instruction taking the address of a symbol the module defines
/// (data or function), other than its own function's (`_THIS_IP_`), or of
/// a string literal.
pub fn takes(m: &Module) -> Vec<Take> {
    let mut out = Vec::new();
    for (ci, c) in m.code.iter().enumerate() {
        for (i, ins) in c.insns.iter().enumerate() {
            let o = &c.offsets[i];
            let mut fields = Vec::new();
            if o.has_displacement() && ins.mnemonic() == Mnemonic::Lea {
                fields.push(ins.ip() + o.displacement_offset() as u64);
            }
            if o.has_immediate() {
                fields.push(ins.ip() + o.immediate_offset() as u64);
            }
            for f in fields {
                let Some(r) = m.reloc_at(c.sec, f) else {
                    continue;
                };
                let Some(t) = m.target(r, Some(ins.next_ip())) else {
                    continue;
                };
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
    }
    out
}

/// The argument registers, in order.
pub const ARGS: [Register; 6] = [
    Register::RDI,
    Register::RSI,
    Register::RDX,
    Register::RCX,
    Register::R8,
    Register::R9,
];

/// Bit of a 64-bit general-purpose register.
const fn bit(r: Register) -> Regs {
    1 << (r as u32 - Register::RAX as u32)
}

/// [`ARGS`] as bits.
pub const ARG_BITS: [Regs; 6] = [
    bit(ARGS[0]),
    bit(ARGS[1]),
    bit(ARGS[2]),
    bit(ARGS[3]),
    bit(ARGS[4]),
    bit(ARGS[5]),
];

/// Bit of a general-purpose register (any width), if it is one.
pub fn gpr(r: Register) -> Option<Regs> {
    let f = r.full_register();
    f.is_gpr64().then(|| bit(f))
}

pub fn bits(regs: &[Register]) -> Regs {
    regs.iter().filter_map(|&r| gpr(r)).fold(0, |a, b| a | b)
}

/// The x86_64 instruction set of the analysis (with the decoder's
/// scratch space for the registers and memory an instruction uses).
pub struct X86 {
    factory: InstructionInfoFactory,
}

impl X86 {
    pub fn new() -> Self {
        X86 {
            factory: InstructionInfoFactory::new(),
        }
    }
}

impl Isa for X86 {
    const ARGS: &'static [Regs] = &ARG_BITS;
    const RESULT: Regs = bit(Register::RAX);
    const CALL_CLOBBERED: Regs = {
        let mut b = 0;
        let mut k = 0;
        while k < CALL_CLOBBERED.len() {
            b |= bit(CALL_CLOBBERED[k]);
            k += 1;
        }
        b
    };
    const CONDITIONAL_TAIL_CALLS: bool = true;

    fn functions(m: &Module) -> usize {
        m.code.len()
    }

    fn insns(m: &Module, code: usize) -> usize {
        m.code[code].insns.len()
    }

    fn function_sym(m: &Module, code: usize) -> usize {
        m.code[code].sym
    }

    fn flow(m: &Module, code: usize, i: usize) -> Flow {
        match m.code[code].insns[i].flow_control() {
            FlowControl::Call | FlowControl::IndirectCall => Flow::Call,
            FlowControl::Return => Flow::Return,
            FlowControl::UnconditionalBranch => Flow::Jump,
            FlowControl::ConditionalBranch => Flow::CondJump,
            FlowControl::IndirectBranch => Flow::IndirectJump,
            FlowControl::Interrupt | FlowControl::Exception => Flow::Stop,
            _ => Flow::Step,
        }
    }

    /// (In a relocatable object a call to another function is a
    /// relocation of the branch's field; only jumps inside a section are
    /// resolved by the assembler.)
    fn callee(m: &Module, code: usize, i: usize) -> Option<Callee> {
        let c = &m.code[code];
        let ins = &c.insns[i];
        if !matches!(ins.op0_kind(), OpKind::NearBranch64) {
            return Some(Callee::Indirect);
        }
        let field = ins.next_ip() - 4;
        let target = match m.reloc_at(c.sec, field) {
            Some(r) => {
                let s = &m.syms[r.sym];
                if s.shndx == 0 {
                    let n = s.name.as_str();
                    return Some(if n.starts_with("__x86_indirect_") {
                        Callee::Indirect
                    } else if n == "__x86_return_thunk" {
                        Callee::Return
                    } else {
                        Callee::Vmlinux(n.to_string())
                    });
                }
                m.target(r, Some(ins.next_ip()))?
            }
            None => Target {
                sec: c.sec,
                offset: ins.near_branch_target(),
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
        let Site { m, code, i, .. } = *site;
        let ins = &m.code[code].insns[i];
        let holder = holder(m, code, i);
        let info = self.factory.info(ins);
        let mut mem_regs: Regs = 0;
        let mut loads = Vec::new();
        let mut stores = Vec::new();
        for mem in info.used_memory() {
            if mem.access() == OpAccess::NoMemAccess {
                continue; // lea: base and index are values
            }
            let (b, x) = (gpr(mem.base()).unwrap_or(0), gpr(mem.index()).unwrap_or(0));
            mem_regs |= b | x;
            let slot = (x == 0 && b & bits(&[Register::RSP, Register::RBP]) != 0)
                .then(|| (b, mem.displacement() as i64));
            if reads(mem.access()) {
                loads.push(slot);
            }
            if writes(mem.access()) {
                stores.push((b, slot));
            }
        }
        let mut explicit: Regs = 0;
        for op in 0..ins.op_count() {
            if ins.op_kind(op) == OpKind::Register {
                explicit |= gpr(ins.op_register(op)).unwrap_or(0);
            }
        }
        let mut value = src;
        for u in info.used_registers() {
            let Some(b) = gpr(u.register()) else { continue };
            let as_value = mem_regs & b == 0 || explicit & b != 0;
            if reads(u.access()) && as_value && st.regs & b != 0 {
                value = true;
            }
        }
        if loads.iter().flatten().any(|s| st.slots.contains(s)) {
            value = true;
        }
        let at = || X86::place(m, code, ins.ip());
        if value && ins.mnemonic() == Mnemonic::Push {
            return Err(format!("pushed on the stack at {}", at()));
        }
        for (base, slot) in stores {
            if value && st.regs & base != 0 {
                continue; // into the object itself
            }
            site.store(st, value, slot, || holder, stored, at)?;
        }
        for u in info.used_registers() {
            let Some(b) = gpr(u.register()) else { continue };
            if b == gpr(Register::RSP).unwrap_or(0) {
                continue;
            }
            // A write of 8 or 16 bits keeps the rest of the register.
            let partial = u.register().size() < 4;
            match u.access() {
                OpAccess::Write | OpAccess::ReadWrite if !partial => set(&mut st.regs, b, value),
                OpAccess::Write
                | OpAccess::ReadWrite
                | OpAccess::CondWrite
                | OpAccess::ReadCondWrite
                    if value =>
                {
                    st.regs |= b
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The module variable instruction `(code, i)` addresses directly (its
/// displacement is a relocation against it).
fn holder(m: &Module, code: usize, i: usize) -> Option<usize> {
    let c = &m.code[code];
    let (ins, o) = (&c.insns[i], &c.offsets[i]);
    if !o.has_displacement() {
        return None;
    }
    let r = m.reloc_at(c.sec, ins.ip() + o.displacement_offset() as u64)?;
    let t = m.target(r, Some(ins.next_ip()))?;
    m.symbol_at(t)
}

fn set(regs: &mut Regs, b: Regs, on: bool) {
    if on {
        *regs |= b;
    } else {
        *regs &= !b;
    }
}

fn reads(a: OpAccess) -> bool {
    matches!(
        a,
        OpAccess::Read | OpAccess::CondRead | OpAccess::ReadWrite | OpAccess::ReadCondWrite
    )
}

fn writes(a: OpAccess) -> bool {
    matches!(
        a,
        OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite
    )
}
