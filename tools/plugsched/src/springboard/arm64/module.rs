// SPDX-License-Identifier: GPL-2.0

//! `springboard-check` on arm64: the module's `__schedule` builds the
//! frame vmlinux's tail expects (`paciasp` or not as vmlinux, `x29` as far
//! below the entry `sp`, every register vmlinux's epilogue restores saved
//! in the same slot, the canary in the same slot from the same guard),
//! and has exactly one springboard: `sub sp, x29, #SP`, then the live-in
//! registers set as the facts say, then either
//!
//! * a direct `b` to vmlinux's `__schedule` + `OFFSET` (relocated against
//!   `__plugsched_vmlinux___schedule`, which klp-convert binds): only
//!   while the module is within the +-128 MiB of a `b`; beyond, the
//!   loader's PLT veneer would `br` into the middle of `__schedule`, no
//!   BTI landing pad, and fault;
//! * or the call itself: `x30` = `__schedule` + `OFFSET` + 4 (`adrp` +
//!   `add`, relocated against `__plugsched_vmlinux___schedule`) and `b`
//!   to `__switch_to` (`__plugsched_vmlinux___switch_to`), whose entry is
//!   a landing pad, so a veneer is fine; `__switch_to` returns into
//!   vmlinux's `__schedule` after the `bl`, as if called from there.

use anyhow::{
    bail,
    Context as _,
    Result, //
};

use super::prologue;
use super::remat::Value;
use super::{
    signed,
    Facts, //
};
use crate::arch::arm64::{
    self,
    Insn,
    Opcode,
    Operand,
    SizeCode,
    FP,
    ZR_SP, //
};

/// How far after the `sub sp, x29` the jump may be.
const SPAN: usize = 24;

/// A relocation of an instruction: its symbol and addend.
pub type Jump = (String, i64);

/// vmlinux's `__schedule` and `__switch_to`, as the module names them.
const SCHEDULE: &str = "__plugsched_vmlinux___schedule";
const SWITCH_TO: &str = "__plugsched_vmlinux___switch_to";

/// Check the module's `__schedule` (`code` at `addr`) against vmlinux's
/// facts.  `jump(a)` gives the relocation of the instruction at `a`.
pub fn check_module(
    code: &[u8],
    addr: u64,
    vm: &Facts,
    jump: &dyn Fn(u64) -> Option<Jump>,
) -> Result<()> {
    let insns = arm64::decode(code, addr);
    frame(&insns, vm)?;
    let sets_sp: Vec<usize> = (0..insns.len())
        .filter(|&k| is_set_sp(&insns[k], vm.sp_below_fp))
        .collect();
    let [k] = sets_sp.as_slice() else {
        bail!(
            "{} `sub sp, x29, #{:#x}` in the module's __schedule (one expected)",
            sets_sp.len(),
            vm.sp_below_fp
        );
    };
    let rest = &insns[k + 1..(k + 1 + SPAN).min(insns.len())];
    let Some(b) = rest.iter().position(|i| i.opcode() == Some(Opcode::B)) else {
        bail!(
            "no direct `b` follows the springboard's `sub sp, x29, #{:#x}`",
            vm.sp_below_fp
        );
    };
    for (r, v) in &vm.live_in {
        if !rest[..b].iter().any(|i| sets(i, *r, v)) {
            bail!(
                "the springboard does not set x{r} to {v:?} (`{}`)",
                v.asm(*r)
            );
        }
    }
    let is = |a: u64, sym: &str, addend: i64| jump(a).is_some_and(|(s, x)| s == sym && x == addend);
    let off = vm.offset as i64;
    if is(rest[b].addr, SCHEDULE, off) {
        return Ok(());
    }
    // The call's form: x30 set to the return address in vmlinux.
    let sets_lr = rest[..b].iter().any(|i| {
        i.opcode() == Some(Opcode::ADD)
            && matches!(
                i.operands(),
                [
                    Operand::RegisterOrSP(_, 30),
                    Operand::RegisterOrSP(_, 30),
                    ..
                ]
            )
            && is(i.addr, SCHEDULE, off + 4)
    });
    if sets_lr && is(rest[b].addr, SWITCH_TO, 0) {
        return Ok(());
    }
    bail!(
        "the springboard's {} goes to {:?}, neither to {SCHEDULE}+{off:#x} nor to {SWITCH_TO} \
         with x30 = {SCHEDULE}+{:#x}",
        rest[b].show(),
        jump(rest[b].addr),
        off + 4
    )
}

/// The module's frame is vmlinux's where the tail uses it.
fn frame(insns: &[Insn], vm: &Facts) -> Result<()> {
    let p = prologue::parse(insns).context("the module's __schedule")?;
    let v = &vm.prologue;
    if (p.pac, p.fp_below_entry, p.canary) != (v.pac, v.fp_below_entry, v.canary) {
        bail!("the module's frame differs: {p:?}, vmlinux's {v:?}");
    }
    for s in &v.saves {
        if !p.saves.contains(s) {
            bail!(
                "vmlinux's tail restores x{} from x29{}; the module saves {:?}",
                s.0,
                signed(s.1),
                p.saves
            );
        }
    }
    Ok(())
}

/// `sub sp, x29, #n`.
fn is_set_sp(i: &Insn, n: u64) -> bool {
    i.opcode() == Some(Opcode::SUB)
        && matches!(
            i.operands(),
            [Operand::RegisterOrSP(_, ZR_SP), Operand::RegisterOrSP(_, FP), Operand::Immediate(k), ..]
                if u64::from(*k) == n
        )
}

/// Whether `i` gives register `r` the value `v` (an address: its `add`;
/// its relocations are klp-convert's to check).
fn sets(i: &Insn, r: u16, v: &Value) -> bool {
    let mov_from = |s: u16| {
        matches!(
            (i.opcode(), i.operands()),
            (Some(Opcode::ORR), [Operand::Register(SizeCode::X, d), Operand::Register(_, ZR_SP), Operand::RegShift(_, 0, _, m), ..])
                if *d == r && *m == s
        )
    };
    match v {
        Value::Prev => mov_from(0),
        Value::Next => mov_from(1),
        Value::Current => matches!(
            (i.opcode(), i.operands()),
            (Some(Opcode::MRS), [Operand::Register(_, d), Operand::SystemReg(prologue::SYSREG_SP_EL0), ..]) if *d == r
        ),
        Value::Address(..) => matches!(
            (i.opcode(), i.operands()),
            (Some(Opcode::ADD), [Operand::RegisterOrSP(_, d), Operand::RegisterOrSP(_, n), ..]) if *d == r && *n == r
        ),
        Value::Const(_) => matches!(
            (i.opcode(), i.operands()),
            (Some(Opcode::MOVZ), [Operand::Register(_, d), ..]) if *d == r
        ),
    }
}
