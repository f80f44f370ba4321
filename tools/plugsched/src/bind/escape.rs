// SPDX-License-Identifier: GPL-2.0

//! Where the address of a variable or function of the module's scheduler
//! goes once module code has taken it (`lea sym`, `mov $sym`): does it stay
//! in the module's code, or does it leave it, to be kept by vmlinux after
//! the module is gone (a lock class key, a debugfs file's operations, a
//! callback)?
//!
//! The address is followed through the registers and stack slots of the
//! function's machine code, along every path (a data-flow fixpoint over the
//! instructions), into the module functions it is passed to, and back to
//! the callers of a function that returns it.  It leaves the module when it
//! is
//!
//! * passed to a function outside the module (a vmlinux function), except
//!   the few that keep nothing (`keeps.rs`);
//! * passed to an indirect call or reaching an indirect jump;
//! * stored anywhere but in the object itself or on the stack;
//! * pushed, or returned by a function that code outside the module calls;
//! * followed deeper than [`MAX_DEPTH`] calls (then the check gives up and
//!   says so).
//!
//! A value loaded through the address (the variable's contents) is not the
//! address: `mov (%rax), %rdx` does not propagate, `lea 8(%rax), %rdx` does.

use std::collections::{
    BTreeMap,
    BTreeSet, //
};

use iced_x86::{
    FlowControl,
    InstructionInfoFactory,
    Mnemonic,
    OpAccess,
    OpKind,
    Register, //
};

use super::keeps::{kept_args, RETURN_FIRST};
use super::module::{
    Module,
    Target, //
};
use crate::springboard::CALL_CLOBBERED;

/// Calls followed into the module's functions (and back to callers).
pub const MAX_DEPTH: u32 = 6;

/// An instruction of the module taking the address of one of its symbols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Take {
    /// Index in `Module::code` and instruction index.
    pub code: usize,
    pub insn: usize,
    /// The address taken, and the symbol there (none: a string literal).
    pub target: Target,
    pub sym: Option<usize>,
}

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

/// Bit of a general-purpose register (any width), if it is one.
pub fn gpr(r: Register) -> Option<u16> {
    let f = r.full_register();
    f.is_gpr64()
        .then(|| 1u16 << (f as u32 - Register::RAX as u32))
}

pub fn bits(regs: &[Register]) -> u16 {
    regs.iter().filter_map(|&r| gpr(r)).fold(0, |a, b| a | b)
}

/// Where the address is: registers and stack slots (base register, offset).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct State {
    regs: u16,
    slots: BTreeSet<(u16, i64)>,
}

impl State {
    fn is_empty(&self) -> bool {
        self.regs == 0 && self.slots.is_empty()
    }

    /// Add `o`; whether anything was new.
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
    /// It is returned (in `rax`) on some path.
    returns: bool,
    /// It leaves the module: how.
    escapes: Option<String>,
    /// Variables of the module's own it is stored in.
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

/// Where a followed address ends up, when it does not leave the module:
/// the module's variables it is stored in (it leaves with them).
pub type Holders = BTreeSet<usize>;

/// Where a call or jump goes.
enum Callee {
    /// An instruction of the same function.
    Inside(usize),
    /// A function of the module.
    Module(usize),
    /// A function of vmlinux.
    Vmlinux(String),
    Indirect,
    /// `jmp __x86_return_thunk`: a return.
    Return,
}

/// The analysis over one module.
pub struct Follow<'m> {
    m: &'m Module,
    memo: BTreeMap<(usize, u16), Outcome>,
    /// Call sites of each function: (code, instruction).
    callers: BTreeMap<usize, Vec<(usize, usize)>>,
    /// Functions that code outside the module may call: global ones and
    /// those whose address is stored in data (the manifest's callbacks).
    called_from_outside: BTreeSet<usize>,
    /// The module's variables that are vmlinux's (storing into them is
    /// storing into vmlinux).
    bound: BTreeSet<usize>,
}

impl<'m> Follow<'m> {
    pub fn new(
        m: &'m Module,
        called_from_outside: BTreeSet<usize>,
        bound: BTreeSet<usize>,
    ) -> Self {
        let mut f = Follow {
            m,
            memo: BTreeMap::new(),
            callers: BTreeMap::new(),
            called_from_outside,
            bound,
        };
        for (ci, c) in m.code.iter().enumerate() {
            for (i, ins) in c.insns.iter().enumerate() {
                if matches!(
                    ins.flow_control(),
                    FlowControl::Call | FlowControl::UnconditionalBranch
                ) {
                    if let Some(Callee::Module(k)) = f.callee(ci, i) {
                        f.callers.entry(k).or_default().push((ci, i));
                    }
                }
            }
        }
        f
    }

    fn name(&self, code: usize) -> &str {
        &self.m.syms[self.m.code[code].sym].name
    }

    /// Where the call or jump at `(code, i)` goes, if it leaves its
    /// function.  (In a relocatable object a call to another function is a
    /// relocation of the branch's field; only jumps inside a section are
    /// resolved by the assembler.)
    fn callee(&self, code: usize, i: usize) -> Option<Callee> {
        let c = &self.m.code[code];
        let ins = &c.insns[i];
        if !matches!(ins.op0_kind(), OpKind::NearBranch64) {
            return Some(Callee::Indirect);
        }
        let field = ins.next_ip() - 4;
        let target = match self.m.reloc_at(c.sec, field) {
            Some(r) => {
                let s = &self.m.syms[r.sym];
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
                self.m.target(r, Some(ins.next_ip()))?
            }
            None => Target {
                sec: c.sec,
                offset: ins.near_branch_target(),
            },
        };
        if target.sec == c.sec {
            if let Some(k) = c.index_of(target.offset) {
                return Some(Callee::Inside(k));
            }
        }
        let sym = self.m.symbol_at(target)?;
        Some(Callee::Module(self.m.code_of(sym)?))
    }

    /// Where the address taken by `t` goes: the module's variables it is
    /// stored in if it stays in the module's code, else how it leaves.
    pub fn follow(&mut self, t: &Take) -> Result<Holders, String> {
        let mut out = self.run(t.code, t.insn, State::default(), true, 0);
        if out.returns && out.escapes.is_none() {
            let more = self.returned(t.code, 1);
            out.escapes = more.escapes;
            out.stored.extend(more.stored);
        }
        match out.escapes {
            Some(h) => Err(h),
            None => Ok(out.stored),
        }
    }

    /// Function `code` returns the address: follow it in its callers.
    fn returned(&mut self, code: usize, depth: u32) -> Outcome {
        let sym = self.m.code[code].sym;
        let name = self.name(code).to_string();
        if self.called_from_outside.contains(&sym) || self.m.syms[sym].info >> 4 != 0 {
            return Outcome::escaped(format!(
                "returned by {name}, which code outside the module calls"
            ));
        }
        if depth > MAX_DEPTH {
            return Outcome::escaped(format!("returned by {name}: followed no further"));
        }
        let mut all = Outcome::default();
        for (c, i) in self.callers.get(&code).cloned().unwrap_or_default() {
            let st = State {
                regs: bits(&[Register::RAX]),
                ..Default::default()
            };
            let mut o = self.run(c, i + 1, st, false, depth);
            if o.returns && o.escapes.is_none() {
                let up = self.returned(c, depth + 1);
                o.escapes = up.escapes;
                o.stored.extend(up.stored);
            }
            if let Some(h) = o.escapes {
                return Outcome::escaped(format!("{h} (returned by {name})"));
            }
            all.stored.extend(o.stored);
        }
        all
    }

    /// Run `code` from instruction `start` with the address in `entry`
    /// (or, with `source`, produced by the instruction at `start`).
    fn run(
        &mut self,
        code: usize,
        start: usize,
        entry: State,
        source: bool,
        depth: u32,
    ) -> Outcome {
        let n = self.m.code[code].insns.len();
        let mut seen: Vec<Option<State>> = vec![None; n];
        let mut work: Vec<(usize, State, bool)> = vec![(start, entry, source)];
        let mut factory = InstructionInfoFactory::new();
        let mut out = Outcome::default();
        while let Some((i, mut st, src)) = work.pop() {
            if i >= n {
                continue;
            }
            if !src {
                match &mut seen[i] {
                    Some(s) => {
                        if !s.merge(&st) {
                            continue;
                        }
                        st = s.clone();
                    }
                    slot => *slot = Some(st.clone()),
                }
            }
            if st.is_empty() && !src {
                continue;
            }
            let ins = self.m.code[code].insns[i];
            let next = i + 1;
            match ins.flow_control() {
                FlowControl::Call | FlowControl::IndirectCall => {
                    if let Some(h) = self.call(code, i, &mut st, depth, &mut out.stored, false) {
                        return Outcome::escaped(h);
                    }
                    work.push((next, st, false));
                }
                FlowControl::Return => {
                    out.returns |= st.regs & bits(&[Register::RAX]) != 0;
                }
                FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch => {
                    let cond = ins.flow_control() == FlowControl::ConditionalBranch;
                    match self.callee(code, i) {
                        Some(Callee::Inside(t)) => work.push((t, st.clone(), false)),
                        Some(Callee::Return) => {
                            out.returns |= st.regs & bits(&[Register::RAX]) != 0;
                        }
                        _ => {
                            // A tail call: a call, then its return.
                            let mut after = st.clone();
                            if let Some(h) =
                                self.call(code, i, &mut after, depth, &mut out.stored, true)
                            {
                                return Outcome::escaped(h);
                            }
                            out.returns |= after.regs & bits(&[Register::RAX]) != 0;
                        }
                    }
                    if cond {
                        work.push((next, st, false));
                    }
                }
                FlowControl::IndirectBranch => {
                    return Outcome::escaped(format!(
                        "reaches an indirect jump in {}",
                        self.name(code)
                    ));
                }
                FlowControl::Interrupt | FlowControl::Exception => {}
                _ => {
                    if let Err(h) = self.step(code, i, &mut st, src, &mut factory, &mut out.stored)
                    {
                        return Outcome::escaped(h);
                    }
                    work.push((next, st, false));
                }
            }
        }
        out
    }

    /// A call with the address possibly in argument registers.
    /// (`tail`: a jump to the function; a function returning its argument
    /// then returns it to callers that, being void, do not use it.)
    fn call(
        &mut self,
        code: usize,
        i: usize,
        st: &mut State,
        depth: u32,
        stored: &mut Holders,
        tail: bool,
    ) -> Option<String> {
        let args = st.regs & bits(&ARGS);
        let mut result = false;
        if args != 0 {
            match self.callee(code, i) {
                None | Some(Callee::Inside(_) | Callee::Return) => {}
                Some(Callee::Indirect) => {
                    return Some(format!("passed to an indirect call in {}", self.name(code)))
                }
                Some(Callee::Vmlinux(name)) if kept_args(&name, args) == 0 => {
                    result = !tail
                        && RETURN_FIRST.contains(&name.as_str())
                        && args & bits(&[Register::RDI]) != 0;
                }
                Some(Callee::Vmlinux(name)) => {
                    return Some(format!("passed to {name} by {}", self.name(code)))
                }
                Some(Callee::Module(k)) if depth >= MAX_DEPTH => {
                    return Some(format!("passed to {}: followed no further", self.name(k)))
                }
                Some(Callee::Module(k)) => {
                    let out = match self.memo.get(&(k, args)) {
                        Some(o) => o.clone(),
                        None => {
                            // (Provisional while it runs: recursion stays.)
                            self.memo.insert((k, args), Outcome::default());
                            let entry = State {
                                regs: args,
                                ..Default::default()
                            };
                            let o = self.run(k, 0, entry, false, depth + 1);
                            self.memo.insert((k, args), o.clone());
                            o
                        }
                    };
                    if let Some(h) = out.escapes {
                        return Some(h);
                    }
                    result = out.returns;
                    stored.extend(out.stored);
                }
            }
        }
        st.regs &= !bits(&CALL_CLOBBERED);
        if result {
            st.regs |= bits(&[Register::RAX]);
        }
        None
    }

    /// The data flow of one ordinary instruction.
    fn step(
        &self,
        code: usize,
        i: usize,
        st: &mut State,
        src: bool,
        factory: &mut InstructionInfoFactory,
        stored: &mut Holders,
    ) -> Result<(), String> {
        let ins = &self.m.code[code].insns[i];
        let holder = self.holder(code, i);
        let info = factory.info(ins);
        let mut mem_regs = 0u16;
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
        let mut explicit = 0u16;
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
        let at = || {
            format!(
                "{}+{:#x}",
                self.name(code),
                ins.ip() - self.m.syms[self.m.code[code].sym].value
            )
        };
        if value && ins.mnemonic() == Mnemonic::Push {
            return Err(format!("pushed on the stack at {}", at()));
        }
        for (base, slot) in stores {
            match (value, slot) {
                (true, _) if st.regs & base != 0 => {} // into the object itself
                (true, Some(s)) => {
                    st.slots.insert(s);
                }
                (true, None) => match holder {
                    Some(h) if !self.bound.contains(&h) => {
                        stored.insert(h);
                    }
                    _ => return Err(format!("stored to memory at {}", at())),
                },
                (false, Some(s)) => {
                    st.slots.remove(&s);
                }
                (false, None) => {}
            }
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

impl Follow<'_> {
    /// The module variable instruction `(code, i)` addresses directly
    /// (its displacement is a relocation against it).
    fn holder(&self, code: usize, i: usize) -> Option<usize> {
        let c = &self.m.code[code];
        let (ins, o) = (&c.insns[i], &c.offsets[i]);
        if !o.has_displacement() {
            return None;
        }
        let r = self
            .m
            .reloc_at(c.sec, ins.ip() + o.displacement_offset() as u64)?;
        let t = self.m.target(r, Some(ins.next_ip()))?;
        self.m.symbol_at(t)
    }
}

fn set(regs: &mut u16, b: u16, on: bool) {
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
