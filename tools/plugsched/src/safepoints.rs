// SPDX-License-Identifier: GPL-2.0

//! Safe points (x86_64): return addresses in a replaced vmlinux function
//! through which a task may return after the upgrade without running any
//! old scheduler logic.
//!
//! A task asleep in `schedule()` called from a replaced function has the
//! return address after that call on its stack.  If every path from there
//! to the function's return only restores registers, touches the stack
//! and checks the stack canary, returning through the old code after the
//! switch is the same as having returned before it: the stack check may
//! let such a frame pass.  [`safe_returns`] proves it from the machine
//! code, conservatively (anything it does not know makes the return
//! address unsafe).  On every path from the return address:
//!
//! * instructions are of a small list of register/stack operations
//!   (`mov`, `pop`, `add`, `sub`, `xor`, `test`, `leave`, ...); no `cli`,
//!   `popf`, string, locked or system instruction;
//! * memory operands are `rsp`-based (no index), `rbp`-based while `rbp`
//!   is still the frame pointer the prologue set, or a read of the stack
//!   canary (`__stack_chk_guard`);
//! * the only call is to a function that does not return
//!   (`__stack_chk_fail`); no indirect branch; jumps stay inside the
//!   function and out of its patched entry; the paths end in `ret` or
//!   `jmp __x86_return_thunk` (whatever the boot-time patching makes of
//!   it, it returns);
//! * static-branch sites (`__jump_table`) go both ways; an instruction
//!   that the boot-time alternatives may rewrite (`.altinstructions`) is
//!   unsafe.

use std::collections::{
    BTreeMap,
    BTreeSet,
    HashMap, //
};

use anyhow::{
    Context as _,
    Result, //
};
use iced_x86::{
    Decoder,
    DecoderOptions,
    FlowControl,
    Instruction,
    InstructionInfoFactory,
    Mnemonic,
    OpAccess,
    OpKind,
    Register, //
};

/// What the analysis knows of the rest of vmlinux.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Functions that do not return (`__stack_chk_fail`).
    pub noreturn: BTreeSet<u64>,
    /// `__x86_return_thunk` (a jump to it is a return).
    pub return_thunk: Option<u64>,
    /// Static-branch sites (code address -> jump target), `__jump_table`.
    pub jump_labels: HashMap<u64, u64>,
    /// Address of `__stack_chk_guard` (the per-CPU canary).
    pub stack_chk_guard: Option<u64>,
    /// Code the alternatives may rewrite at boot: `(start, end)`, sorted.
    pub alternatives: Vec<(u64, u64)>,
    /// A relocatable object (the module): what each relocation of the code
    /// refers to, by the address of the field it patches.  The analysis of
    /// vmlinux has none (its code is linked).
    pub relocs: BTreeMap<u64, RelTarget>,
    /// Calls and tail calls out of the function are followed: the code
    /// the switch replaces is known ([`Context::replaced`],
    /// [`Context::entries`]).  Without it, no call but to a `noreturn`
    /// function is safe.
    pub calls_known: bool,
    /// The code the switch replaces, `(start, end)` sorted: vmlinux's
    /// functions of the boundary with their pieces (for an upgrade).  The
    /// module's own code is the relocations' business: every call into it
    /// is unrelocated or to a defined symbol ([`RelTarget::Other`]).
    pub replaced: Vec<(u64, u64)>,
    /// Entries of replaced functions that the switch redirects: a call
    /// there runs the code live after the switch.
    pub entries: BTreeSet<u64>,
    /// Targets that are not a function's code: indirect-branch thunks and
    /// static-call trampolines (whatever they reach is unknown).
    pub thunks: BTreeSet<u64>,
}

/// What a relocation in the code of a relocatable object refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelTarget {
    /// `__x86_return_thunk`: a `jmp` to it is a return.
    ReturnThunk,
    /// `__stack_chk_fail`: a `call` to it does not return.
    NoReturn,
    /// `__stack_chk_guard`: the canary (read through `gs:`).
    StackGuard,
    /// A function the module does not define (vmlinux's), not a thunk: a
    /// call or tail call there runs nothing of the module.
    External,
    /// Anything else: a call or jump to the module's own code, a thunk, a
    /// memory operand or constant that is not the stack.
    Other,
}

impl Context {
    /// Whether a direct call or tail call to `t` (outside the function)
    /// runs only code the switch leaves live: not replaced, or the
    /// redirected entry of a replaced function.
    fn callable(&self, t: u64) -> bool {
        if !self.calls_known || self.thunks.contains(&t) || self.noreturn.contains(&t) {
            return false;
        }
        let k = self.replaced.partition_point(|&(s, _)| s <= t);
        let inside = k > 0 && t < self.replaced[k - 1].1;
        !inside || self.entries.contains(&t)
    }

    /// The relocation patching a field of `i`, if any.
    fn reloc(&self, i: &Instruction) -> Option<RelTarget> {
        self.relocs
            .range(i.ip()..i.next_ip())
            .next()
            .map(|(_, &t)| t)
    }

    fn rewritten(&self, i: &Instruction) -> bool {
        let k = self.alternatives.partition_point(|&(s, _)| s < i.next_ip());
        self.alternatives[..k]
            .iter()
            .rev()
            .take(8)
            .any(|&(s, e)| s < i.next_ip() && i.ip() < e)
    }
}

/// Bytes at the start of a function that the upgrade rewrites (ENDBR and
/// the 5-byte patch site after it): no path may reach them.
const ENTRY: u64 = 4 + 5;

fn decode(code: &[u8], ip: u64) -> Vec<Instruction> {
    let mut dec = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut out = Vec::new();
    while dec.can_decode() {
        out.push(dec.decode());
    }
    out
}

/// Whether `rbp` is the frame pointer wherever the function calls: it
/// starts with `[endbr64] [call __fentry__] push rbp; mov rbp, rsp`, and no
/// other instruction writes `rbp` but `pop rbp` or `leave`.
fn rbp_is_frame(insns: &[Instruction], factory: &mut InstructionInfoFactory) -> bool {
    let mut it = insns.iter().enumerate().skip_while(|(k, i)| {
        i.mnemonic() == Mnemonic::Endbr64 || (*k <= 1 && i.flow_control() == FlowControl::Call)
    });
    let (Some((_, push)), Some((k, mov))) = (it.next(), it.next()) else {
        return false;
    };
    if push.mnemonic() != Mnemonic::Push
        || push.op0_register() != Register::RBP
        || mov.mnemonic() != Mnemonic::Mov
        || mov.op0_register() != Register::RBP
        || mov.op1_register() != Register::RSP
    {
        return false;
    }
    insns.iter().enumerate().all(|(j, i)| {
        j == k
            || matches!(i.mnemonic(), Mnemonic::Leave)
            || (i.mnemonic() == Mnemonic::Pop && i.op0_register() == Register::RBP)
            || !factory.info(i).used_registers().iter().any(|u| {
                u.register().full_register() == Register::RBP
                    && !matches!(u.access(), OpAccess::Read | OpAccess::CondRead)
            })
    })
}

/// Register and stack operations a safe path may run.
fn harmless(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Mov | Movzx
            | Movsx
            | Movsxd
            | Xor
            | Sub
            | Add
            | And
            | Or
            | Cmp
            | Test
            | Lea
            | Pop
            | Push
            | Leave
            | Nop
            | Endbr64
            | Cdqe
            | Cdq
            | Cqo
            | Neg
            | Not
            | Inc
            | Dec
            | Shl
            | Shr
            | Sar
            | Sete
            | Setne
            | Cmove
            | Cmovne
            | Int3
    )
}

/// Why the path from a return address through `i` is not safe, if it is not.
fn check_insn(
    i: &Instruction,
    frame: bool,
    info: &iced_x86::InstructionInfo,
    cx: &Context,
) -> Option<&'static str> {
    if cx.rewritten(i) {
        return Some("rewritten by the alternatives");
    }
    if i.has_lock_prefix() || i.has_rep_prefix() || i.has_repne_prefix() {
        return Some("prefixed");
    }
    let flow = i.flow_control();
    if flow == FlowControl::Next && !harmless(i.mnemonic()) {
        return Some("not a register or stack operation");
    }
    let rel = cx.reloc(i);
    if flow == FlowControl::Next && rel.is_some_and(|r| r != RelTarget::StackGuard) {
        return Some("refers to a symbol");
    }
    for m in info.used_memory() {
        let implicit_stack = matches!(
            i.mnemonic(),
            Mnemonic::Push | Mnemonic::Pop | Mnemonic::Leave
        ) || matches!(flow, FlowControl::Call | FlowControl::Return);
        let canary = m.segment() == Register::GS
            && m.access() == OpAccess::Read
            && m.index() == Register::None
            && (rel == Some(RelTarget::StackGuard)
                || cx.stack_chk_guard.is_some_and(|g| {
                    (i.is_ip_rel_memory_operand() && i.ip_rel_memory_address() == g)
                        || (m.base() == Register::None && m.displacement() == g)
                }));
        let stack = m.index() == Register::None
            && m.segment() != Register::GS
            && m.segment() != Register::FS
            && (m.base() == Register::RSP || (frame && m.base() == Register::RBP));
        if !(canary || stack || (implicit_stack && m.base() == Register::RSP)) {
            return Some("memory outside the stack");
        }
    }
    None
}

/// The offsets (from `addr`) of the return addresses of `code`, a whole
/// function at `addr`, that are safe points.
pub fn safe_returns(code: &[u8], addr: u64, cx: &Context) -> Vec<u64> {
    let insns = decode(code, addr);
    let end = addr + code.len() as u64;
    let at: HashMap<u64, usize> = insns.iter().enumerate().map(|(k, i)| (i.ip(), k)).collect();
    let mut factory = InstructionInfoFactory::new();
    let frame = rbp_is_frame(&insns, &mut factory);
    let mut out = Vec::new();
    for call in insns
        .iter()
        .filter(|i| i.flow_control() == FlowControl::Call)
    {
        let ret = call.next_ip();
        if ret < end && safe_from(&insns, &at, ret, addr, frame, cx, &mut factory).is_ok() {
            out.push(ret - addr);
        }
    }
    out
}

/// The offsets (from `addr`) of the instructions of `code`, a whole
/// function at `addr`, that are safe points: [`safe_returns`] for a task
/// interrupted (or preempted) right before any instruction, not only one
/// asleep in a call.  The path from an interrupted instruction pointer is
/// the same as from a return address there, so is the proof; the return
/// addresses that are safe are among these.
pub fn safe_instructions(code: &[u8], addr: u64, cx: &Context) -> Vec<u64> {
    let insns = decode(code, addr);
    let at: HashMap<u64, usize> = insns.iter().enumerate().map(|(k, i)| (i.ip(), k)).collect();
    let mut factory = InstructionInfoFactory::new();
    let frame = rbp_is_frame(&insns, &mut factory);
    insns
        .iter()
        .map(|i| i.ip())
        .filter(|&ip| safe_from(&insns, &at, ip, addr, frame, cx, &mut factory).is_ok())
        .map(|ip| ip - addr)
        .collect()
}

/// Number of return addresses (calls) in `code`, a function at `addr`.
pub fn return_addresses(code: &[u8], addr: u64) -> usize {
    decode(code, addr)
        .iter()
        .filter(|i| i.flow_control() == FlowControl::Call)
        .count()
}

/// `Ok` if every path from `start` is safe, else why not.
fn safe_from(
    insns: &[Instruction],
    at: &HashMap<u64, usize>,
    start: u64,
    addr: u64,
    frame: bool,
    cx: &Context,
    factory: &mut InstructionInfoFactory,
) -> Result<(), String> {
    let mut work = vec![(start, frame)];
    let mut seen = BTreeSet::new();
    while let Some((ip, mut frame)) = work.pop() {
        if !seen.insert((ip, frame)) {
            continue;
        }
        if ip < addr + ENTRY {
            return Err(format!("{ip:#x}: reaches the function's entry"));
        }
        let Some(&k) = at.get(&ip) else {
            return Err(format!("{ip:#x}: not an instruction of the function"));
        };
        let i = &insns[k];
        let info = factory.info(i);
        if let Some(why) = check_insn(i, frame, info, cx) {
            return Err(format!("{ip:#x}: {:?}: {why}", i.code()));
        }
        if info.used_registers().iter().any(|u| {
            u.register().full_register() == Register::RBP
                && !matches!(u.access(), OpAccess::Read | OpAccess::CondRead)
        }) {
            frame = false;
        }
        let next = i.next_ip();
        let target = (i.op0_kind() == OpKind::NearBranch64).then(|| i.near_branch_target());
        if let Some(&t) = cx.jump_labels.get(&ip) {
            work.push((t, frame));
            work.push((next, frame));
            continue;
        }
        // A relocated branch (a relocatable object): its target is the
        // relocation's symbol, not what the field holds.
        let rel = cx.reloc(i);
        match (i.flow_control(), rel) {
            (FlowControl::Next, _) => {}
            (FlowControl::Call, Some(RelTarget::NoReturn)) => continue,
            (FlowControl::UnconditionalBranch, Some(RelTarget::ReturnThunk)) => continue,
            (FlowControl::ConditionalBranch, Some(RelTarget::ReturnThunk)) => {
                work.push((next, frame));
                continue;
            }
            // vmlinux's code (the module's analysis, for a rollback): a
            // call returns here, a tail call does not.
            (FlowControl::Call, Some(RelTarget::External)) if cx.calls_known => {
                work.push((next, frame));
                continue;
            }
            (FlowControl::UnconditionalBranch, Some(RelTarget::External)) if cx.calls_known => {
                continue
            }
            (FlowControl::ConditionalBranch, Some(RelTarget::External)) if cx.calls_known => {
                work.push((next, frame));
                continue;
            }
            (_, Some(_)) => return Err(format!("{ip:#x}: {:?}: leaves the function", i.code())),
            (_, None) => {}
        }
        match i.flow_control() {
            FlowControl::Next => work.push((next, frame)),
            FlowControl::Call if target.is_some_and(|t| cx.noreturn.contains(&t)) => {}
            // A call to code the switch leaves live returns here.
            FlowControl::Call if target.is_some_and(|t| cx.callable(t)) => work.push((next, frame)),
            FlowControl::ConditionalBranch => {
                work.push((next, frame));
                match target {
                    Some(t) if at.contains_key(&t) => work.push((t, frame)),
                    Some(t) if cx.return_thunk == Some(t) || cx.callable(t) => {}
                    _ => return Err(format!("{ip:#x}: branches out of the function")),
                }
            }
            FlowControl::UnconditionalBranch => match target {
                Some(t) if cx.return_thunk == Some(t) => {}
                Some(t) if at.contains_key(&t) => work.push((t, frame)),
                // A tail call to code the switch leaves live.
                Some(t) if cx.callable(t) => {}
                _ => return Err(format!("{ip:#x}: jumps out of the function")),
            },
            FlowControl::Return => {}
            // int3: a trap, not a way on (padding after a return thunk).
            FlowControl::Interrupt if i.mnemonic() == Mnemonic::Int3 => {}
            _ => return Err(format!("{ip:#x}: {:?}: cannot follow", i.code())),
        }
    }
    Ok(())
}

/// The analysis' view of vmlinux (the ELF image `data`).
pub fn context_from_vmlinux(obj: &object::File<'_>) -> Result<Context> {
    use object::{
        Object,
        ObjectSection,
        ObjectSymbol, //
    };
    let addr_of = |n: &str| {
        obj.symbols()
            .find(|s| s.name() == Ok(n))
            .map(|s| s.address())
            .with_context(|| format!("vmlinux has no {n}"))
    };
    let mut cx = Context {
        return_thunk: addr_of("__x86_return_thunk").ok(),
        stack_chk_guard: addr_of("__stack_chk_guard").ok(),
        ..Default::default()
    };
    cx.noreturn.insert(addr_of("__stack_chk_fail")?);
    for s in obj.symbols() {
        if s.name().is_ok_and(is_thunk) {
            cx.thunks.insert(s.address());
        }
    }
    cx.jump_labels = crate::jump_table::read(obj)?;
    if let Some(alt) = obj.section_by_name(".altinstructions") {
        let d = alt.data()?;
        // struct alt_instr { s32 instr_offset; s32 repl_offset; u32
        // ft_flags; u8 instrlen; u8 replacementlen; } __packed.
        for (k, e) in d.chunks_exact(14).enumerate() {
            let at = alt.address() + 14 * k as u64;
            let off = i32::from_le_bytes([e[0], e[1], e[2], e[3]]) as i64;
            let start = at.wrapping_add(off as u64);
            cx.alternatives.push((start, start + e[12] as u64));
        }
        cx.alternatives.sort_unstable();
    }
    Ok(cx)
}

/// Indirect-branch thunks and static-call trampolines: a call to one goes
/// where a pointer says.
fn is_thunk(name: &str) -> bool {
    name.starts_with("__x86_indirect_")
        || name.starts_with("__SCT__")
        || name.starts_with("__static_call")
        || name.starts_with("__x86_return_thunk")
        || name.starts_with("__bpf_")
}

/// Synthetic address of section `index` of a relocatable object: each
/// section gets its own 4 GiB, so (section, offset) pairs are addresses.
fn section_base(index: usize) -> u64 {
    (index as u64 + 1) << 32
}

/// One function of the module to analyse: the vmlinux function it replaces
/// (name and sympos) and the name of its copy in the module.
#[derive(Clone, Debug)]
pub struct ModuleCopy {
    pub vmlinux: String,
    pub sympos: u64,
    pub module: String,
}

/// What [`module_safe_points`] found.
#[derive(Debug, Default)]
pub struct ModuleTable {
    /// (vmlinux name, sympos, offsets in the module's copy) of each copy
    /// with safe points, in the order of the manifest.
    pub groups: Vec<SafeGroup>,
    /// Return addresses (calls) of the copies analysed.
    pub calls: usize,
    /// Of those, the safe ones (all among `rows`).
    pub returns: usize,
    /// Copies analysed.
    pub funcs: usize,
    /// Copies not analysed (no symbol, an ambiguous name, no code).
    pub skipped: Vec<String>,
}

impl ModuleTable {
    /// Number of safe instructions.
    pub fn instructions(&self) -> usize {
        self.groups.iter().map(|(_, _, o)| o.len()).sum()
    }
}

/// The safe points of one function: its vmlinux name and sympos, and the
/// offsets of its safe instructions, ascending.
pub type SafeGroup = (String, u64, Vec<u64>);

/// The C of the safe points `groups`: one array of every offset, named
/// `{prefix}_offsets` (one symbol: each symbol of the module costs every
/// kallsyms look-up in it at load), and the rows of a `struct
/// plugsched_safepoint` table (c_shims/manifest.h) that point into it,
/// sentinel included.
pub fn c_groups(prefix: &str, groups: &[SafeGroup]) -> (String, String) {
    let (mut offsets, mut rows, mut at) = (String::new(), String::new(), 0);
    for (name, pos, offs) in groups {
        let list: Vec<String> = offs.iter().map(|o| format!("{o:#x}")).collect();
        offsets.push_str(&format!("\t{},\n", list.join(", ")));
        rows.push_str(&format!(
            "\t{{ \"{name}\", {pos}, {}, {prefix}_offsets + {at} }},\n",
            offs.len()
        ));
        at += offs.len();
    }
    rows.push_str("\t{ NULL, 0, 0, NULL }\n");
    // (A zero keeps the array valid C when there is no safe point.)
    let array = format!("static const unsigned int {prefix}_offsets[] = {{\n{offsets}\t0\n}};\n");
    (array, rows)
}

/// The safe points of the module's copies `copies` in `obj`, the module
/// before `klp-convert` (a relocatable object: every call and jump out of
/// a function, every memory operand that is not the stack is a
/// relocation, see [`RelTarget`]).  Static branches come from the
/// relocations of `__jump_table`, code the alternatives may rewrite from
/// those of `.altinstructions`.  A copy whose name is not exactly one
/// function symbol is skipped (no safe points: its frames stay busy).
pub fn module_safe_points(obj: &object::File<'_>, copies: &[ModuleCopy]) -> Result<ModuleTable> {
    use object::{
        Object,
        ObjectSection,
        ObjectSymbol,
        RelocationTarget,
        SectionIndex,
        SymbolKind, //
    };
    let sym_addr = |t: RelocationTarget, addend: i64| -> Option<u64> {
        let RelocationTarget::Symbol(si) = t else {
            return None;
        };
        let sym = obj.symbol_by_index(si).ok()?;
        let sec = sym.section_index()?;
        Some(
            section_base(sec.0)
                .wrapping_add(sym.address())
                .wrapping_add(addend as u64),
        )
    };
    // Calls and jumps into the module's own code are not relocated (same
    // section) or relocated against a defined symbol: all of it counts as
    // replaced; what the module does not define is vmlinux's
    // ([`RelTarget::External`]).
    let mut cx = Context {
        calls_known: true,
        replaced: vec![(0, u64::MAX)],
        ..Default::default()
    };
    for sec in obj.sections() {
        let name = sec.name().unwrap_or("");
        let base = section_base(sec.index().0);
        let code = sec.kind() == object::SectionKind::Text;
        for (off, r) in sec.relocations() {
            if code {
                let t = match r.target() {
                    RelocationTarget::Symbol(si) => match obj.symbol_by_index(si).ok() {
                        Some(s) => match s.name().unwrap_or("") {
                            "__x86_return_thunk" => RelTarget::ReturnThunk,
                            "__stack_chk_fail" => RelTarget::NoReturn,
                            "__stack_chk_guard" => RelTarget::StackGuard,
                            n if s.is_undefined() && !is_thunk(n) && !n.is_empty() => {
                                RelTarget::External
                            }
                            _ => RelTarget::Other,
                        },
                        None => RelTarget::Other,
                    },
                    _ => RelTarget::Other,
                };
                cx.relocs.insert(base + off, t);
            } else if name == "__jump_table" && off % 16 == 0 {
                // struct jump_entry { s32 code; s32 target; long key; }:
                // code and target are PC-relative (S + A - P), so the
                // address they stand for is S + A.
                let code_at = sym_addr(r.target(), r.addend());
                let target = sec
                    .relocations()
                    .find(|(o, _)| *o == off + 4)
                    .and_then(|(_, t)| sym_addr(t.target(), t.addend()));
                match (code_at, target) {
                    (Some(c), Some(t)) => {
                        cx.jump_labels.insert(c, t);
                    }
                    _ => anyhow::bail!("__jump_table entry at {off:#x}: cannot resolve it"),
                }
            } else if name == ".altinstructions" && off % 14 == 0 {
                // struct alt_instr { s32 instr_offset; s32 repl_offset; u32
                // ft_flags; u8 instrlen; u8 replacementlen; } __packed.
                let d = sec.data()?;
                let len = d.get(off as usize + 12).copied().unwrap_or(u8::MAX);
                let start = sym_addr(r.target(), r.addend())
                    .with_context(|| format!(".altinstructions entry at {off:#x}"))?;
                cx.alternatives.push((start, start + u64::from(len)));
            }
        }
    }
    cx.alternatives.sort_unstable();
    // Function symbols by name: a copy must be exactly one.
    let mut by_name: HashMap<&str, Vec<(SectionIndex, u64, u64)>> = HashMap::new();
    for sym in obj.symbols() {
        if sym.kind() != SymbolKind::Text || sym.size() == 0 {
            continue;
        }
        if let (Ok(n), Some(sec)) = (sym.name(), sym.section_index()) {
            by_name
                .entry(n)
                .or_default()
                .push((sec, sym.address(), sym.size()));
        }
    }
    let mut out = ModuleTable::default();
    let mut done = BTreeSet::new();
    for c in copies {
        if c.vmlinux == "__schedule" || !done.insert((c.vmlinux.clone(), c.sympos)) {
            continue;
        }
        let found = by_name
            .get(c.module.as_str())
            .or_else(|| by_name.get(format!("__plugsched_{}", c.module).as_str()));
        let Some(&[(sec, value, size)]) = found.map(Vec::as_slice) else {
            out.skipped.push(c.module.clone());
            continue;
        };
        let Some(code) = obj
            .section_by_index(sec)
            .ok()
            .and_then(|s| s.data().ok())
            .and_then(|d| d.get(value as usize..(value + size) as usize))
        else {
            out.skipped.push(c.module.clone());
            continue;
        };
        let addr = section_base(sec.0) + value;
        out.funcs += 1;
        out.calls += return_addresses(code, addr);
        out.returns += safe_returns(code, addr, &cx).len();
        let offs = safe_instructions(code, addr, &cx);
        if !offs.is_empty() {
            out.groups.push((c.vmlinux.clone(), c.sympos, offs));
        }
    }
    Ok(out)
}

/// The C file of the module's safe points ([`module_safe_points`]), compiled
/// into the module: `plugsched_module_safepoint_count/get` (manifest.h).
pub fn module_table_c(t: &ModuleTable) -> String {
    let (arrays, rows) = c_groups("module_sp", &t.groups);
    format!(
        "/* Generated by `plugsched module-safepoints`: instructions in the\n \
         * module's copies (by the vmlinux function each replaces; offsets from\n \
         * the copy's start) whose code up to the return touches no scheduler\n \
         * state (tools/plugsched/src/safepoints.rs).  {} instructions ({} of {}\n \
         * return addresses) in {} functions. */\n\
         #include <linux/array_size.h>\n#include <linux/stddef.h>\n#include \"manifest.h\"\n\n\
         {arrays}\n\
         static const struct plugsched_safepoint module_safepoints[] = {{\n{rows}}};\n\n\
         unsigned int plugsched_module_safepoint_count(void)\n{{\n\treturn ARRAY_SIZE(module_safepoints) - 1;\n}}\n\n\
         const struct plugsched_safepoint *plugsched_module_safepoint_get(unsigned int i)\n{{\n\
         \treturn i < ARRAY_SIZE(module_safepoints) - 1 ? &module_safepoints[i] : NULL;\n}}\n",
        t.instructions(),
        t.returns,
        t.calls,
        t.funcs
    )
}

/// Bytes of `size` bytes of code at `addr` in the ELF `obj`.
pub fn code_at<'a>(obj: &'a object::File<'a>, addr: u64, size: u64) -> Option<&'a [u8]> {
    use object::{
        Object,
        ObjectSection, //
    };
    let s = obj
        .sections()
        .find(|s| s.address() <= addr && addr + size <= s.address() + s.size())?;
    let d = s.data().ok()?;
    let off = (addr - s.address()) as usize;
    d.get(off..off + size as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0xffff_ffff_8100_0000;
    const THUNK: u64 = 0xffff_ffff_8200_0000;
    const FAIL: u64 = 0xffff_ffff_8300_0000;

    /// `endbr64; call fentry; push rbp; mov rbp,rsp; push rbx; call X`
    /// then `tail` (`jmp THUNK` and `call FAIL` are written as rel32 to
    /// them from where they are).
    fn func(tail: &[&[u8]]) -> Vec<u8> {
        let mut v = vec![
            0xf3, 0x0f, 0x1e, 0xfa, 0xe8, 0, 0, 0, 0, 0x55, 0x48, 0x89, 0xe5, 0x53,
        ];
        v.extend([0xe8, 0, 1, 0, 0]);
        for t in tail {
            if *t == b"THUNK" || *t == b"FAIL" {
                let dst = if *t == b"THUNK" { THUNK } else { FAIL };
                let op = if *t == b"THUNK" { 0xe9 } else { 0xe8 };
                let next = BASE + v.len() as u64 + 5;
                v.push(op);
                v.extend((dst.wrapping_sub(next) as i32).to_le_bytes());
            } else {
                v.extend(*t);
            }
        }
        v
    }

    fn cx() -> Context {
        let mut c = Context {
            return_thunk: Some(THUNK),
            stack_chk_guard: Some(0x1234_5678),
            ..Default::default()
        };
        c.noreturn.insert(FAIL);
        c
    }

    /// Offset of the return address of the `call X` of [`func`].
    const RET: u64 = 19;

    fn safe(code: &[u8], c: &Context) -> bool {
        safe_returns(code, BASE, c).contains(&RET)
    }

    #[test]
    fn epilogue_is_safe() {
        // pop rbx; pop rbp; jmp __x86_return_thunk
        assert!(safe(&func(&[&[0x5b, 0x5d], b"THUNK"]), &cx()));
        // xor eax,eax; pop rbx; pop rbp; ret
        assert!(safe(&func(&[&[0x31, 0xc0, 0x5b, 0x5d, 0xc3]]), &cx()));
        // mov rax,[rsp+8]; add rsp,0x10; leave; ret
        assert!(safe(
            &func(&[&[0x48, 0x8b, 0x44, 0x24, 0x08, 0x48, 0x83, 0xc4, 0x10, 0xc9, 0xc3]]),
            &cx()
        ));
    }

    #[test]
    fn interrupted_in_a_safe_tail() {
        // pop rbx (19); pop rbp (20); jmp __x86_return_thunk (21): each is
        // safe to resume at; the call before it and what leads there not.
        let code = func(&[&[0x5b, 0x5d], b"THUNK"]);
        assert_eq!(safe_instructions(&code, BASE, &cx()), vec![19, 20, 21]);
        // mov [rip+0x100],eax (19); ret (25): only the ret.
        let code = func(&[&[0x89, 0x05, 0, 1, 0, 0, 0xc3]]);
        assert_eq!(safe_instructions(&code, BASE, &cx()), vec![25]);
        // The return addresses that are safe are among them.
        let code = func(&[&[0x31, 0xc0, 0x5b, 0x5d, 0xc3]]);
        let all = safe_instructions(&code, BASE, &cx());
        assert!(safe_returns(&code, BASE, &cx())
            .iter()
            .all(|r| all.contains(r)));
        assert_eq!(all, vec![19, 21, 22, 23]);
    }

    #[test]
    fn canary_check_is_safe() {
        // mov rax,[rbp-0x10]; sub rax,gs:[0x12345678]; jne fail; pop rbx;
        // pop rbp; jmp thunk; fail: call __stack_chk_fail
        let code = func(&[
            &[0x48, 0x8b, 0x45, 0xf0],
            &[0x65, 0x48, 0x2b, 0x04, 0x25, 0x78, 0x56, 0x34, 0x12],
            &[0x75, 0x07, 0x5b, 0x5d],
            b"THUNK",
            b"FAIL",
        ]);
        assert!(safe(&code, &cx()));
        // The same gs: load of another per-CPU variable is not the canary.
        let mut c = cx();
        c.stack_chk_guard = Some(0x1234_0000);
        assert!(!safe(&code, &c));
    }

    #[test]
    fn scheduler_work_is_unsafe() {
        // mov [rip+0x100],eax; ret: a global.
        assert!(!safe(&func(&[&[0x89, 0x05, 0, 1, 0, 0, 0xc3]]), &cx()));
        // call Y; pop rbx; pop rbp; ret: another function.
        assert!(!safe(
            &func(&[&[0xe8, 0, 2, 0, 0, 0x5b, 0x5d, 0xc3]]),
            &cx()
        ));
        // mov eax,[rbx+8]; pop rbx; pop rbp; ret: a read of the heap.
        assert!(!safe(
            &func(&[&[0x8b, 0x43, 0x08, 0x5b, 0x5d, 0xc3]]),
            &cx()
        ));
        // pop rbx; pop rbp; jmp elsewhere: a tail call.
        let mut c = cx();
        c.return_thunk = Some(THUNK + 64);
        assert!(!safe(&func(&[&[0x5b, 0x5d], b"THUNK"]), &c));
        // sti; ret
        assert!(!safe(&func(&[&[0xfb, 0xc3]]), &cx()));
        // jmp rax
        assert!(!safe(&func(&[&[0xff, 0xe0]]), &cx()));
        // pop rbx; pop rbp; mov rax,[rbp-8]; ret: rbp is no longer ours.
        assert!(!safe(
            &func(&[&[0x5b, 0x5d, 0x48, 0x8b, 0x45, 0xf8, 0xc3]]),
            &cx()
        ));
        // A jump back to the patched entry.
        assert!(!safe(&func(&[&[0xeb, 0xef]]), &cx()));
    }

    #[test]
    fn both_ways_of_a_branch_are_followed() {
        // je +3; pop rbx; pop rbp; ret; mov [rip],eax; ret
        let code = func(&[&[0x74, 0x03, 0x5b, 0x5d, 0xc3, 0x89, 0x05, 0, 0, 0, 0, 0xc3]]);
        assert!(!safe(&code, &cx()));
        // A static branch at a 2-byte nop: its target too.
        let code = func(&[&[0x66, 0x90, 0x5b, 0x5d, 0xc3, 0x89, 0x05, 0, 0, 0, 0, 0xc3]]);
        assert!(safe(&code, &cx()));
        let mut c = cx();
        c.jump_labels.insert(BASE + RET, BASE + RET + 5);
        assert!(!safe(&code, &c));
        // An alternative over the nop.
        let mut c = cx();
        c.alternatives.push((BASE + RET, BASE + RET + 2));
        assert!(!safe(&code, &c));
    }

    #[test]
    fn without_frame_pointer_rbp_is_any_register() {
        // No push rbp; mov rbp,rsp: mov rax,[rbp-8] is a read of anything.
        let mut code = vec![0x90; 16];
        code.extend([0x53, 0xe8, 0, 1, 0, 0, 0x48, 0x8b, 0x45, 0xf8, 0x5b, 0xc3]);
        assert!(safe_returns(&code, BASE, &cx()).is_empty());
        let mut code = vec![0x53, 0xe8, 0, 1, 0, 0, 0x5b, 0xc3];
        code.splice(0..0, [0x90; 16]);
        assert_eq!(safe_returns(&code, BASE, &cx()), vec![22]);
        // __x64_sys_sched_yield: endbr64; call __fentry__; call
        // do_sched_yield; xor eax,eax; jmp __x86_return_thunk.
        let mut code = vec![
            0xf3, 0x0f, 0x1e, 0xfa, 0xe8, 0, 0, 0, 0, 0xe8, 0, 1, 0, 0, 0x31, 0xc0,
        ];
        let next = BASE + code.len() as u64 + 5;
        code.push(0xe9);
        code.extend((THUNK.wrapping_sub(next) as i32).to_le_bytes());
        assert_eq!(safe_returns(&code, BASE, &cx()), vec![14]);
    }

    #[test]
    fn relocations_of_a_module_decide_calls_and_jumps() {
        // As in a relocatable object: every rel32 field is 0 and a
        // relocation names the target.  endbr64; call __fentry__; push rbp;
        // mov rbp,rsp; push rbx; call X; pop rbx; pop rbp; jmp THUNK.
        let mut code = vec![
            0xf3, 0x0f, 0x1e, 0xfa, 0xe8, 0, 0, 0, 0, 0x55, 0x48, 0x89, 0xe5, 0x53,
        ];
        code.extend([0xe8, 0, 0, 0, 0, 0x5b, 0x5d, 0xe9, 0, 0, 0, 0]);
        let with = |jmp: RelTarget| {
            let mut c = Context::default();
            c.relocs.insert(BASE + 5, RelTarget::Other);
            c.relocs.insert(BASE + 15, RelTarget::Other);
            c.relocs.insert(BASE + 22, jmp);
            c
        };
        assert_eq!(
            safe_returns(&code, BASE, &with(RelTarget::ReturnThunk)),
            vec![RET]
        );
        // A tail call (jmp to another symbol) is not a return.
        assert!(safe_returns(&code, BASE, &with(RelTarget::Other)).is_empty());
        // Canary check through a relocation to __stack_chk_guard, its
        // failure a relocated call to __stack_chk_fail:
        // mov rax,[rbp-0x10]; sub rax,gs:[rip+0]; jne fail; pop rbx;
        // pop rbp; jmp THUNK; fail: call __stack_chk_fail.
        let mut code = vec![
            0xf3, 0x0f, 0x1e, 0xfa, 0xe8, 0, 0, 0, 0, 0x55, 0x48, 0x89, 0xe5, 0x53,
        ];
        code.extend([0xe8, 0, 0, 0, 0]);
        code.extend([0x48, 0x8b, 0x45, 0xf0]); // 19
        code.extend([0x65, 0x48, 0x2b, 0x05, 0, 0, 0, 0]); // 23, field at 27
        code.extend([0x75, 0x07, 0x5b, 0x5d]); // 31
        code.extend([0xe9, 0, 0, 0, 0]); // 35, field at 36
        code.extend([0xe8, 0, 0, 0, 0]); // 40, field at 41
        let mut c = Context::default();
        c.relocs.insert(BASE + 5, RelTarget::Other);
        c.relocs.insert(BASE + 15, RelTarget::Other);
        c.relocs.insert(BASE + 27, RelTarget::StackGuard);
        c.relocs.insert(BASE + 36, RelTarget::ReturnThunk);
        c.relocs.insert(BASE + 41, RelTarget::NoReturn);
        assert_eq!(safe_returns(&code, BASE, &c), vec![RET]);
        // The same gs: read of another per-CPU variable is scheduler state.
        c.relocs.insert(BASE + 27, RelTarget::Other);
        assert!(safe_returns(&code, BASE, &c).is_empty());
        // An unrelocated call (a local function of the same section).
        c.relocs.insert(BASE + 27, RelTarget::StackGuard);
        c.relocs.remove(&(BASE + 41));
        assert!(safe_returns(&code, BASE, &c).is_empty());
    }

    #[test]
    fn calls_to_code_left_live_are_followed() {
        // endbr64; call fentry; push rbp; mov rbp,rsp; push rbx; call X;
        // call Y; pop rbx; pop rbp; jmp Z (rel32 from BASE+24 and BASE+31).
        let y = BASE + 0x1000;
        let z = BASE + 0x2000;
        let mut code = vec![
            0xf3, 0x0f, 0x1e, 0xfa, 0xe8, 0, 0, 0, 0, 0x55, 0x48, 0x89, 0xe5, 0x53,
        ];
        code.extend([0xe8, 0, 1, 0, 0]);
        code.push(0xe8);
        code.extend(((y - (BASE + 24)) as i32).to_le_bytes());
        code.extend([0x5b, 0x5d, 0xe9]);
        code.extend(((z - (BASE + 31)) as i32).to_le_bytes());
        let mut c = cx();
        // Nothing known of the rest: no call is safe.
        assert!(!safe(&code, &c));
        c.calls_known = true;
        assert!(safe(&code, &c));
        // Y replaced (internal): unsafe; Y the redirected entry: safe.
        c.replaced.push((y, y + 0x100));
        assert!(!safe(&code, &c));
        c.entries.insert(y);
        assert!(safe(&code, &c));
        // The tail call to a thunk: unsafe.
        c.thunks.insert(z);
        assert!(!safe(&code, &c));
    }
}
