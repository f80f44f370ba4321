// SPDX-License-Identifier: GPL-2.0

//! Either architecture's split: [`Split`] holds the facts of vmlinux's
//! `__schedule` for the instruction set of its `e_machine`, and the entry
//! points `plugsched init` (`springboard-vmlinux.h`) and
//! `springboard-check` use.  Both read the jump table the same way.

use std::collections::HashMap;

use anyhow::{
    Context as _,
    Result, //
};

use super::{
    arm64,
    check_module_file_x86,
    from_vmlinux_x86,
    function_bytes,
    header_x86,
    Facts, //
};
use crate::arch::Arch;

/// The facts of the split for either architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Split {
    X86_64(Facts),
    Aarch64(arm64::Facts),
}

/// The facts of the split from the vmlinux ELF image `data` (with its
/// symbol table), for its architecture.
pub fn from_vmlinux(data: &[u8]) -> Result<Split> {
    let obj = object::File::parse(data)?;
    Ok(match Arch::of(&obj)? {
        Arch::X86_64 => Split::X86_64(from_vmlinux_x86(data)?),
        Arch::Aarch64 => Split::Aarch64(from_vmlinux_arm64(&obj)?),
    })
}

/// `kernel/sched/springboard-vmlinux.h`.
pub fn header(s: &Split) -> String {
    match s {
        Split::X86_64(f) => header_x86(f),
        Split::Aarch64(f) => arm64::header(f),
    }
}

/// One line for `springboard-check`.
pub fn describe(s: &Split) -> String {
    match s {
        Split::X86_64(f) => format!(
            "the module's __schedule enters vmlinux's at +{:#x} with rsp = rbp-{:#x} (pushes {:?}, canary rbp{:+})",
            f.offset, f.rsp_below_rbp, f.prologue.pushes, f.prologue.canary
        ),
        Split::Aarch64(f) => arm64::describe(f),
    }
}

/// Check the module ELF image `data` against vmlinux's facts.
pub fn check_module_file(data: &[u8], vm: &Split) -> Result<()> {
    match vm {
        Split::X86_64(f) => check_module_file_x86(data, f),
        Split::Aarch64(f) => check_module_file_arm64(data, f),
    }
}

/// [`arm64::check_module`] for the module ELF image `data`.
fn check_module_file_arm64(data: &[u8], vm: &arm64::Facts) -> Result<()> {
    use object::{
        Object,
        ObjectSection,
        ObjectSymbol, //
    };
    let obj = object::File::parse(data)?;
    let (code, addr, sec) = function_bytes(&obj, "__schedule")?;
    let mut jumps: HashMap<u64, arm64::Jump> = HashMap::new();
    for (off, r) in sec.relocations() {
        if let object::RelocationTarget::Symbol(si) = r.target() {
            if let Some(n) = obj.symbol_by_index(si).ok().and_then(|s| s.name().ok()) {
                jumps.insert(sec.address() + off, (vmlinux_alias(n), r.addend()));
            }
        }
    }
    arm64::check_module(&code, addr, vm, &|a| jumps.get(&a).cloned())
}

/// The name a module's reference to vmlinux's `X` has before klp-convert
/// (`__plugsched_vmlinux_X`), for the klp symbol it becomes
/// (`.klp.sym.vmlinux.X,POS`); other names as they are.
fn vmlinux_alias(name: &str) -> String {
    match name
        .strip_prefix(".klp.sym.vmlinux.")
        .and_then(|n| n.rsplit_once(','))
    {
        Some((n, _)) => format!("__plugsched_vmlinux_{n}"),
        None => name.to_string(),
    }
}

/// [`arm64::derive`] for a vmlinux.
fn from_vmlinux_arm64(obj: &object::File<'_>) -> Result<arm64::Facts> {
    use object::{
        Object,
        ObjectSymbol, //
    };
    let addr_of = |n: &str| {
        obj.symbols()
            .find(|s| s.name() == Ok(n))
            .map(|s| s.address())
            .with_context(|| format!("vmlinux has no {n}"))
    };
    let mut symbols: Vec<(u64, u64, String)> = obj
        .symbols()
        .filter(|s| {
            matches!(
                s.kind(),
                object::SymbolKind::Data | object::SymbolKind::Text
            )
        })
        .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
        .collect();
    symbols.sort();
    let mut cx = arm64::Context {
        switch_to: addr_of("__switch_to")?,
        jump_labels: crate::jump_table::read(obj)?,
        symbols,
        ..Default::default()
    };
    // (A kernel without the stack protector has no __stack_chk_fail.)
    cx.noreturn.extend(addr_of("__stack_chk_fail").ok());
    let (code, addr, _) = function_bytes(obj, "__schedule")?;
    arm64::derive(&code, addr, &cx).context("vmlinux __schedule (arm64)")
}
