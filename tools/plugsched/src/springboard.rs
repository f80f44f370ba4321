// SPDX-License-Identifier: GPL-2.0

//! The `__schedule` split (x86_64): the facts the module's `__schedule`
//! needs to finish in vmlinux's, derived from the machine code, and the
//! check that the module's copy agrees with them.
//!
//! The module's `__schedule` runs the new code up to the context switch,
//! then sets `rsp` to where vmlinux's `__schedule` has it at its
//! `call __switch_to_asm` and jumps (directly) onto that call.  When the
//! task runs again it returns into vmlinux's `__schedule`, whose tail
//! (`finish_task_switch`, tracepoint, stack-protector check, epilogue)
//! runs with the frame the module's prologue built.  That is sound only if
//!
//! * both prologues push the same callee-saved registers in the same order
//!   after `push rbp; mov rbp, rsp` (the tail's epilogue pops the caller's
//!   registers from where the module pushed them);
//! * both store the stack canary at the same `rbp` offset (the tail checks
//!   it there);
//! * the tail reads no value the top half computed: no register other than
//!   `rax` (the `prev` that `__switch_to_asm` returns), `rsp` and `rbp`
//!   before writing it, no `rbp`-based slot but the canary, no `rsp`-based
//!   slot at all (locals) -- on every path, including static-branch
//!   targets, until the function returns.
//!
//! [`derive`] establishes this for vmlinux (or fails: the build stops
//! instead of guessing), [`check_module`] for the module's compiled copy.
//! arm64 has its own derivation and check ([`arm64`]); [`Split`] is
//! either's facts, chosen by vmlinux's `e_machine`.

pub mod arm64;
mod split;

pub use self::split::{
    check_module_file,
    describe,
    from_vmlinux,
    header, //
};

use std::collections::{
    BTreeSet,
    HashMap, //
};

use anyhow::{
    bail,
    Context as _,
    Result, //
};
use iced_x86::{
    Code,
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

/// What the code around a call site needs to know.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Address of `__switch_to_asm` (the call may also go to its
    /// call-depth-tracking padding, the 16 bytes before it).
    pub switch_to_asm: u64,
    /// Functions that do not return (`__stack_chk_fail`, ...).
    pub noreturn: BTreeSet<u64>,
    /// Static-branch sites (code address -> jump target), `__jump_table`.
    pub jump_labels: HashMap<u64, u64>,
    /// Address of `__stack_chk_guard` (the per-CPU canary), if known.
    pub stack_chk_guard: Option<u64>,
}

/// A `__schedule` prologue: `push rbp; mov rbp, rsp; push ...; sub rsp, N`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prologue {
    /// Registers pushed after `rbp`, in order.
    pub pushes: Vec<Register>,
    /// `N` of `sub rsp, N` (0 if none).
    pub locals: u64,
    /// `rbp` offset of the stack canary.
    pub canary: i64,
}

/// The facts of vmlinux's `__schedule` the split relies on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// Offset of the `call __switch_to_asm` in `__schedule`.
    pub offset: u64,
    /// Its prologue.
    pub prologue: Prologue,
    /// `rbp - rsp` at the call.
    pub rsp_below_rbp: u64,
}

/// An instruction, for messages (its iced-x86 code: `Mov_r64_rm64`, ...).
fn show(i: &Instruction) -> String {
    format!("{:?}", i.code())
}

fn decode(code: &[u8], ip: u64) -> Vec<Instruction> {
    let mut dec = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut out = Vec::new();
    while dec.can_decode() {
        out.push(dec.decode());
    }
    out
}

/// Parse the prologue at the start of `insns`.  `is_guard(i)` tells
/// whether the `gs:` load `i` reads `__stack_chk_guard`.
pub fn prologue(
    insns: &[Instruction],
    is_guard: &dyn Fn(&Instruction) -> bool,
) -> Result<Prologue> {
    let mut it = insns
        .iter()
        .filter(|i| !matches!(i.mnemonic(), Mnemonic::Endbr64 | Mnemonic::Nop));
    let bad = |i: Option<&Instruction>, what: &str| {
        format!(
            "prologue: expected {what}, found {}",
            i.map_or("the end".to_string(), |i| format!(
                "{} at {:#x}",
                show(i),
                i.ip()
            ))
        )
    };
    let i = it.next();
    if !i.is_some_and(|i| i.code() == Code::Push_r64 && i.op0_register() == Register::RBP) {
        bail!(bad(i, "push rbp"));
    }
    let i = it.next();
    if !i.is_some_and(|i| {
        i.mnemonic() == Mnemonic::Mov
            && i.op0_register() == Register::RBP
            && i.op1_register() == Register::RSP
    }) {
        bail!(bad(i, "mov rbp, rsp"));
    }
    let mut pushes = Vec::new();
    let mut locals = 0;
    let mut rest = Vec::new();
    for i in it.by_ref() {
        if i.code() == Code::Push_r64 {
            pushes.push(i.op0_register());
            continue;
        }
        if i.mnemonic() == Mnemonic::Sub
            && i.op0_register() == Register::RSP
            && matches!(
                i.op1_kind(),
                OpKind::Immediate8to64 | OpKind::Immediate32to64
            )
        {
            locals = i.immediate(1);
        } else {
            rest.push(*i);
        }
        break;
    }
    // The canary: `mov REG, gs:[...]` then `mov [rbp + d], REG`.
    let mut canary_reg = None;
    let mut canary = None;
    for i in rest.iter().chain(it).take(40) {
        if i.mnemonic() == Mnemonic::Mov
            && i.op0_kind() == OpKind::Register
            && i.op1_kind() == OpKind::Memory
            && i.segment_prefix() == Register::GS
            && is_guard(i)
        {
            canary_reg = Some(i.op0_register());
        } else if let Some(r) = canary_reg {
            if i.mnemonic() == Mnemonic::Mov
                && i.op0_kind() == OpKind::Memory
                && i.memory_base() == Register::RBP
                && i.op1_kind() == OpKind::Register
                && i.op1_register() == r
            {
                canary = Some(i.memory_displacement64() as i64);
                break;
            }
        }
    }
    let canary = canary.context("prologue: no stack canary stored below rbp")?;
    Ok(Prologue {
        pushes,
        locals,
        canary,
    })
}

/// Registers a call may clobber (SysV ABI, kernel).
pub const CALL_CLOBBERED: [Register; 9] = [
    Register::RAX,
    Register::RCX,
    Register::RDX,
    Register::RSI,
    Register::RDI,
    Register::R8,
    Register::R9,
    Register::R10,
    Register::R11,
];

fn bit(r: Register) -> u32 {
    let r = r.full_register();
    if r.is_gpr64() {
        1 << (r as u32 - Register::RAX as u32)
    } else {
        0
    }
}

/// Check that no path from `start` reads a value computed before it (see
/// the module documentation).  `insns` is the whole function.
fn check_tail(insns: &[Instruction], start: u64, canary: i64, cx: &Context) -> Result<()> {
    let at: HashMap<u64, usize> = insns.iter().enumerate().map(|(k, i)| (i.ip(), k)).collect();
    let live_in = bit(Register::RAX) | bit(Register::RSP) | bit(Register::RBP);
    let mut work = vec![(start, live_in)];
    let mut seen = BTreeSet::new();
    let mut factory = InstructionInfoFactory::new();
    while let Some((ip, mut written)) = work.pop() {
        if !seen.insert((ip, written)) {
            continue;
        }
        let Some(&k) = at.get(&ip) else {
            bail!("tail: {ip:#x} is not an instruction of __schedule");
        };
        let i = &insns[k];
        let info = factory.info(i);
        for u in info.used_registers() {
            let b = bit(u.register());
            if b == 0 {
                continue;
            }
            let reads = matches!(
                u.access(),
                OpAccess::Read | OpAccess::CondRead | OpAccess::ReadWrite | OpAccess::ReadCondWrite
            );
            if reads && written & b == 0 {
                bail!(
                    "tail: `{}` at {:#x} reads {:?}, a value of the top half live across the context switch",
                    show(i),
                    i.ip(),
                    u.register().full_register()
                );
            }
        }
        for m in info.used_memory() {
            let stack_op = matches!(i.mnemonic(), Mnemonic::Push | Mnemonic::Pop)
                || matches!(i.flow_control(), FlowControl::Call | FlowControl::Return);
            match m.base() {
                Register::RBP if m.displacement() as i64 != canary => {
                    bail!(
                        "tail: `{}` at {:#x} uses a stack slot of the top half",
                        show(i),
                        i.ip()
                    );
                }
                Register::RSP if !stack_op => {
                    bail!(
                        "tail: `{}` at {:#x} uses a local of the top half",
                        show(i),
                        i.ip()
                    );
                }
                _ => {}
            }
        }
        for u in info.used_registers() {
            // A conditional or 8/16-bit write leaves (part of) the old value.
            if matches!(u.access(), OpAccess::Write | OpAccess::ReadWrite)
                && u.register().size() >= 4
            {
                written |= bit(u.register());
            }
        }
        let next = i.next_ip();
        let target = (i.op0_kind() == OpKind::NearBranch64).then(|| i.near_branch_target());
        let inside = |t: u64| at.contains_key(&t);
        // A static-branch site goes either way, whatever it holds now.
        if let Some(&t) = cx.jump_labels.get(&i.ip()) {
            work.push((t, written));
            work.push((next, written));
        }
        match i.flow_control() {
            FlowControl::Next => work.push((next, written)),
            FlowControl::Call => {
                if target.is_some_and(|t| cx.noreturn.contains(&t)) {
                    continue;
                }
                for r in CALL_CLOBBERED {
                    written |= bit(r);
                }
                work.push((next, written));
            }
            FlowControl::ConditionalBranch => {
                work.push((next, written));
                match target {
                    Some(t) if inside(t) => work.push((t, written)),
                    _ => bail!("tail: branch out of __schedule at {ip:#x}"),
                }
            }
            // A jump inside continues; out of the function it is the
            // return thunk or a tail call: the path ends.
            FlowControl::UnconditionalBranch => {
                if let Some(t) = target.filter(|&t| inside(t)) {
                    work.push((t, written));
                }
            }
            // `ud2`/`ud1`: a WARN continues after it (a BUG does not, but
            // following it too only adds paths).
            FlowControl::Exception if matches!(i.mnemonic(), Mnemonic::Ud2 | Mnemonic::Ud1) => {
                if inside(next) {
                    work.push((next, written));
                }
            }
            FlowControl::Return | FlowControl::Interrupt | FlowControl::Exception => {}
            _ => {
                bail!(
                    "tail: cannot follow `{}` at {:#x} (indirect branch)",
                    show(i),
                    i.ip()
                )
            }
        }
    }
    Ok(())
}

/// The facts of vmlinux's `__schedule` (`code` at `addr`).
pub fn derive(code: &[u8], addr: u64, cx: &Context) -> Result<Facts> {
    let insns = decode(code, addr);
    let prologue = prologue(&insns, &|i: &Instruction| {
        cx.stack_chk_guard
            .is_none_or(|g| i.is_ip_rel_memory_operand() && i.ip_rel_memory_address() == g)
    })?;
    let calls: Vec<&Instruction> = insns
        .iter()
        .filter(|i| {
            i.flow_control() == FlowControl::Call
                && i.op0_kind() == OpKind::NearBranch64
                && (cx.switch_to_asm.saturating_sub(16)..=cx.switch_to_asm)
                    .contains(&i.near_branch_target())
        })
        .collect();
    let call = match calls.as_slice() {
        [c] => *c,
        [] => bail!("no call of __switch_to_asm in __schedule"),
        _ => {
            bail!("{} calls of __switch_to_asm in __schedule", calls.len())
        }
    };
    if call.len() != 5 {
        bail!("the call at {:#x} is not a 5-byte call rel32", call.ip());
    }
    check_tail(&insns, call.next_ip(), prologue.canary, cx)?;
    let rsp_below_rbp = 8 * prologue.pushes.len() as u64 + prologue.locals;
    Ok(Facts {
        offset: call.ip() - addr,
        prologue,
        rsp_below_rbp,
    })
}

/// Check the module's compiled `__schedule` (`code` at `addr`, relocations
/// not applied) against vmlinux's facts: same pushes, same canary slot,
/// and exactly one springboard `lea rsp, [rbp - rsp_below_rbp]` followed
/// by a direct `jmp`.
pub fn check_module(
    code: &[u8],
    addr: u64,
    vm: &Facts,
    is_guard: &dyn Fn(&Instruction) -> bool,
) -> Result<()> {
    let insns = decode(code, addr);
    let p = prologue(&insns, is_guard)?;
    if p.pushes != vm.prologue.pushes {
        bail!(
            "the module's __schedule pushes {:?}, vmlinux's {:?}",
            p.pushes,
            vm.prologue.pushes
        );
    }
    if p.canary != vm.prologue.canary {
        bail!(
            "the module's __schedule keeps its stack canary at rbp{:+}, vmlinux's at rbp{:+}",
            p.canary,
            vm.prologue.canary
        );
    }
    let boards: Vec<usize> = insns
        .iter()
        .enumerate()
        .filter(|(_, i)| {
            i.mnemonic() == Mnemonic::Lea
                && i.op0_register() == Register::RSP
                && i.memory_base() == Register::RBP
                && i.memory_index() == Register::None
        })
        .map(|(k, _)| k)
        .collect();
    let [k] = boards.as_slice() else {
        bail!(
            "the module's __schedule has {} springboards (lea rsp, [rbp - N]), not 1",
            boards.len()
        );
    };
    let lea = &insns[*k];
    if lea.memory_displacement64() as i64 != -(vm.rsp_below_rbp as i64) {
        bail!(
            "the springboard sets rsp to rbp{:+}, vmlinux has rbp-{:#x} at its call",
            lea.memory_displacement64() as i64,
            vm.rsp_below_rbp
        );
    }
    match insns.get(*k + 1) {
        Some(j) if j.mnemonic() == Mnemonic::Jmp && j.op0_kind() == OpKind::NearBranch64 => Ok(()),
        _ => bail!("the springboard's lea is not followed by a direct jmp"),
    }
}

/// The C header with the facts, for the module's `__schedule`.
pub(crate) fn header_x86(f: &Facts) -> String {
    format!(
        "/* Generated by `plugsched init` from vmlinux's __schedule: where its\n \
         * call __switch_to_asm is and what its frame looks like there\n \
         * (tools/plugsched/src/springboard.rs, Documentation/live-update.rst). */\n\
         #define PLUGSCHED_SPRINGBOARD_OFFSET {:#x}\n\
         #define PLUGSCHED_SPRINGBOARD_RSP {:#x}\n\
         /* pushes after rbp: {:?}; locals {:#x}; stack canary at rbp{:+} */\n",
        f.offset, f.rsp_below_rbp, f.prologue.pushes, f.prologue.locals, f.prologue.canary
    )
}

/// Bytes of the function symbol `name` of an ELF file, its address, and
/// its section.
pub(crate) fn function_bytes<'a>(
    obj: &'a object::File<'a>,
    name: &str,
) -> Result<(Vec<u8>, u64, object::Section<'a, 'a>)> {
    use object::{
        Object,
        ObjectSection,
        ObjectSymbol, //
    };
    let syms: Vec<_> = obj
        .symbols()
        .filter(|s| s.name() == Ok(name) && s.kind() == object::SymbolKind::Text)
        .collect();
    let [s] = syms.as_slice() else {
        bail!("{} function(s) named {name}", syms.len());
    };
    let idx = s
        .section_index()
        .with_context(|| format!("{name} has no section"))?;
    let sec = obj.section_by_index(idx)?;
    let data = sec.data()?;
    let off = (s.address() - sec.address()) as usize;
    let end = off + s.size() as usize;
    if s.size() == 0 || end > data.len() {
        bail!("{name}: bad size");
    }
    Ok((data[off..end].to_vec(), s.address(), sec))
}

/// [`derive`] for the x86_64 vmlinux ELF image `data`.
pub(crate) fn from_vmlinux_x86(data: &[u8]) -> Result<Facts> {
    use object::{
        Object,
        ObjectSymbol, //
    };
    let obj = object::File::parse(data)?;
    let addr_of = |n: &str| {
        obj.symbols()
            .find(|s| s.name() == Ok(n))
            .map(|s| s.address())
            .with_context(|| format!("vmlinux has no {n}"))
    };
    let mut cx = Context {
        switch_to_asm: addr_of("__switch_to_asm")?,
        ..Default::default()
    };
    cx.noreturn.insert(addr_of("__stack_chk_fail")?);
    cx.stack_chk_guard = Some(addr_of("__stack_chk_guard")?);
    cx.jump_labels = crate::jump_table::read(&obj)?;
    let (code, addr, _) = function_bytes(&obj, "__schedule")?;
    derive(&code, addr, &cx).context("vmlinux __schedule")
}

/// [`check_module`] for the module ELF `data`.
pub(crate) fn check_module_file_x86(data: &[u8], vm: &Facts) -> Result<()> {
    use object::{
        Object,
        ObjectSection,
        ObjectSymbol, //
    };
    let obj = object::File::parse(data)?;
    let (code, addr, sec) = function_bytes(&obj, "__schedule")?;
    // Offsets (in the section) of relocations against __stack_chk_guard:
    // the module's canary load is the one relocated against it.
    let mut guard_relocs = BTreeSet::new();
    for (off, r) in sec.relocations() {
        if let object::RelocationTarget::Symbol(si) = r.target() {
            let name = obj.symbol_by_index(si).ok().and_then(|s| s.name().ok());
            // Modules reach it through its alias __ref_stack_chk_guard.
            if matches!(name, Some("__stack_chk_guard" | "__ref_stack_chk_guard")) {
                guard_relocs.insert(off);
            }
        }
    }
    let base = sec.address();
    check_module(&code, addr, vm, &|i: &Instruction| {
        guard_relocs
            .range(i.ip() - base..i.next_ip() - base)
            .next()
            .is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // push rbp; mov rbp,rsp; push r15; push r14; push r13; push r12;
    // push rbx; sub rsp,0x38; mov r12,gs:[rip+0x10]; mov [rbp-0x30],r12
    const PRO: &[u8] = &[
        0x55, 0x48, 0x89, 0xe5, 0x41, 0x57, 0x41, 0x56, 0x41, 0x55, 0x41, 0x54, 0x53, 0x48, 0x83,
        0xec, 0x38, 0x65, 0x4c, 0x8b, 0x25, 0x10, 0x00, 0x00, 0x00, 0x4c, 0x89, 0x65, 0xd0,
    ];
    // mov rdi,r14; mov rsi,r15; call SW; mov rdi,rax; call F;
    // mov rax,[rbp-0x30]; add rsp,0x38; pop rbx; pop r12; pop r13; pop r14;
    // pop r15; pop rbp; ret
    fn body(tail_extra: &[u8]) -> Vec<u8> {
        let mut v = PRO.to_vec();
        v.extend([0x4c, 0x89, 0xf7, 0x4c, 0x89, 0xfe]);
        v.extend([0xe8, 0x00, 0x01, 0x00, 0x00]); // call +0x100
        v.extend(tail_extra);
        v.extend([0x48, 0x89, 0xc7, 0xe8, 0x00, 0x02, 0x00, 0x00]);
        v.extend([0x48, 0x8b, 0x45, 0xd0, 0x48, 0x83, 0xc4, 0x38]);
        v.extend([
            0x5b, 0x41, 0x5c, 0x41, 0x5d, 0x41, 0x5e, 0x41, 0x5f, 0x5d, 0xc3,
        ]);
        v
    }

    fn cx(code: &[u8], base: u64) -> Context {
        // The call at offset PRO.len() + 6 targets next_ip + 0x100.
        let call_next = base + PRO.len() as u64 + 6 + 5;
        let _ = code;
        Context {
            switch_to_asm: call_next + 0x100,
            ..Default::default()
        }
    }

    #[test]
    fn derives_the_facts_of_a_good_schedule() {
        let base = 0xffff_ffff_8100_0000;
        let code = body(&[]);
        let f = derive(&code, base, &cx(&code, base)).unwrap();
        assert_eq!(f.offset, PRO.len() as u64 + 6);
        assert_eq!(
            f.prologue.pushes,
            vec![
                Register::R15,
                Register::R14,
                Register::R13,
                Register::R12,
                Register::RBX
            ]
        );
        assert_eq!(f.prologue.locals, 0x38);
        assert_eq!(f.prologue.canary, -0x30);
        assert_eq!(f.rsp_below_rbp, 0x60);
        assert!(header_x86(&f).contains("#define PLUGSCHED_SPRINGBOARD_RSP 0x60"));
    }

    #[test]
    fn refuses_values_live_across_the_switch() {
        let base = 0xffff_ffff_8100_0000;
        // mov rdi,rbx after the switch: rbx is the top half's.
        let code = body(&[0x48, 0x89, 0xdf]);
        let e = derive(&code, base, &cx(&code, base))
            .unwrap_err()
            .to_string();
        assert!(e.contains("reads RBX"), "{e}");
        // mov rax,[rbp-0x40]: a stack slot of the top half.
        let code = body(&[0x48, 0x8b, 0x45, 0xc0]);
        assert!(derive(&code, base, &cx(&code, base))
            .unwrap_err()
            .to_string()
            .contains("stack slot"));
        // mov rax,[rsp+8]: a local.
        let code = body(&[0x48, 0x8b, 0x44, 0x24, 0x08]);
        assert!(derive(&code, base, &cx(&code, base))
            .unwrap_err()
            .to_string()
            .contains("local"));
        // Writing a register first is fine: mov ebx,1; mov rdi,rbx.
        let code = body(&[0xbb, 0x01, 0, 0, 0, 0x48, 0x89, 0xdf]);
        assert!(derive(&code, base, &cx(&code, base)).is_ok());
    }

    #[test]
    fn static_branch_targets_are_followed() {
        let base = 0xffff_ffff_8100_0000;
        // A 5-byte NOP right after the call (a static-branch site) whose
        // target block reads rbx and jumps back.
        let mut tail = vec![0x0f, 0x1f, 0x44, 0x00, 0x00];
        let code_plain = body(&tail);
        let nop_ip = base + PRO.len() as u64 + 6 + 5;
        let block = base + code_plain.len() as u64;
        tail.clear();
        let mut code = code_plain.clone();
        // block: mov rdi,rbx; ret
        code.extend([0x48, 0x89, 0xdf, 0xc3]);
        let mut c = cx(&code, base);
        assert!(derive(&code, base, &c).is_ok());
        c.jump_labels.insert(nop_ip, block);
        assert!(derive(&code, base, &c)
            .unwrap_err()
            .to_string()
            .contains("reads RBX"));
    }

    #[test]
    fn module_copy_must_match() {
        let base = 0xffff_ffff_8100_0000;
        let code = body(&[]);
        let vm = derive(&code, base, &cx(&code, base)).unwrap();
        // The module: same prologue, then lea rsp,[rbp-0x60]; jmp rel32.
        let mut m = PRO.to_vec();
        m.extend([0x48, 0x8d, 0x65, 0xa0, 0xe9, 0, 0, 0, 0]);
        assert!(check_module(&m, 0, &vm, &|_| true).is_ok());
        // Wrong displacement.
        let mut bad = PRO.to_vec();
        bad.extend([0x48, 0x8d, 0x65, 0xa8, 0xe9, 0, 0, 0, 0]);
        assert!(check_module(&bad, 0, &vm, &|_| true)
            .unwrap_err()
            .to_string()
            .contains("rbp-0x60"));
        // No springboard.
        assert!(check_module(PRO, 0, &vm, &|_| true)
            .unwrap_err()
            .to_string()
            .contains("0 springboards"));
        // A gs: load that is not the canary is not taken for it.
        assert!(check_module(&m, 0, &vm, &|_| false)
            .unwrap_err()
            .to_string()
            .contains("canary"));
        // Different pushes: swap r13/r12.
        let mut sw = PRO.to_vec();
        sw[8..12].copy_from_slice(&[0x41, 0x54, 0x41, 0x55]);
        sw.extend([0x48, 0x8d, 0x65, 0xa0, 0xe9, 0, 0, 0, 0]);
        assert!(check_module(&sw, 0, &vm, &|_| true)
            .unwrap_err()
            .to_string()
            .contains("pushes"));
    }
}
