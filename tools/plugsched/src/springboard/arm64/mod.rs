// SPDX-License-Identifier: GPL-2.0

//! The `__schedule` split on arm64 (issue item 3): the facts of vmlinux's
//! `__schedule` at its `bl __switch_to`, derived from the machine code,
//! and the check of the module's copy.
//!
//! `context_switch()` is inlined into `__schedule`, which calls
//! `__switch_to()` (C), which calls `cpu_switch_to` (assembly: saves
//! `x19`-`x28`, `x29`, `sp`, `lr` of `prev` in its `thread`, restores
//! `next`'s).  When the task runs again, `__switch_to` returns `prev` in
//! `x0` into vmlinux's `__schedule`, whose tail (`finish_task_switch`,
//! tracepoints, the canary check, the epilogue) runs on the frame the
//! module's prologue built.  Sound only if
//!
//! * both prologues save the callee-saved registers at the same offsets
//!   from `x29`, `x29` is as far below the entry `sp` in both, the canary
//!   is at the same `x29` slot (the tail's epilogue restores `sp` from
//!   `x29`-relative arithmetic or the frame size, then `autiasp`
//!   authenticates `x30` against that `sp`: with `paciasp` at both entries
//!   and the same entry `sp`, the module's signature is valid for
//!   vmlinux's epilogue: no re-signing needed);
//! * the tail reads no stack local of the top half ([`tail`]) and the
//!   callee-saved registers it reads are ones the springboard can set to
//!   the same values ([`remat`]).
//!
//! The springboard (module side, `springboard-check`: [`check_module`]):
//! `sub sp, x29, #SP`, the live-in registers set
//! (`PLUGSCHED_SPRINGBOARD_LIVE_IN`, with `prev`/`next` in `x0`/`x1`),
//! then a direct `b` to vmlinux's `__schedule` + `OFFSET` (a direct branch
//! needs no BTI landing pad, but a PLT veneer -- the module farther than
//! +-128 MiB -- would `br` there and fault), or the call itself: `x30` =
//! that address + 4 and `b __switch_to`, whose entry is a landing pad.

mod flow;
mod module;
mod prologue;
mod remat;
mod tail;
#[cfg(test)]
mod tests;

use std::collections::{
    BTreeSet,
    HashMap, //
};

use anyhow::{
    bail,
    Context as _,
    Result, //
};

use self::flow::Func;
pub use self::module::{
    check_module,
    Jump, //
};
pub use self::prologue::Prologue;
pub use self::remat::Value;
use crate::arch::arm64;

/// What the code around the call needs to know.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Address of `__switch_to`.
    pub switch_to: u64,
    /// Functions that do not return (`__stack_chk_fail`, ...).
    pub noreturn: BTreeSet<u64>,
    /// Static-branch sites (code address -> jump target), `__jump_table`.
    pub jump_labels: HashMap<u64, u64>,
    /// Symbols (start, size, name), sorted: names the live-in addresses.
    pub symbols: Vec<(u64, u64, String)>,
}

/// The facts of vmlinux's `__schedule` the split relies on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// Offset of the `bl __switch_to` in `__schedule`.
    pub offset: u64,
    pub prologue: Prologue,
    /// `x29 - sp` at the call.
    pub sp_below_fp: u64,
    /// Callee-saved registers the tail reads and the values to give them.
    pub live_in: Vec<(u16, Value)>,
}

/// The facts of vmlinux's `__schedule` (`code` at `addr`).
pub fn derive(code: &[u8], addr: u64, cx: &Context) -> Result<Facts> {
    let insns = arm64::decode(code, addr);
    let p = prologue::parse(&insns)?;
    let f = Func::new(&insns, cx, -(p.fp_below_entry as i64));
    let calls: Vec<usize> = (0..insns.len())
        .filter(|&k| insns[k].is_call() && insns[k].branch_target() == Some(cx.switch_to))
        .collect();
    let [call] = calls.as_slice() else {
        bail!(
            "{} `bl __switch_to` in __schedule (one expected)",
            calls.len()
        );
    };
    let sp = f.sp_everywhere()?;
    let Some(&sp_call) = sp.get(call) else {
        bail!("the `bl __switch_to` is unreachable");
    };
    let t = tail::follow(&f, call + 1, sp_call, &p).context("after `bl __switch_to`")?;
    // pac-ret: the tail's epilogue authenticates x30 against the entry
    // sp, which the module's prologue signed it with: both or neither.
    if p.pac != t.authenticates {
        bail!(
            "the entry {} the return address, the tail's returns {}",
            if p.pac { "signs" } else { "does not sign" },
            if t.authenticates {
                "authenticate it"
            } else {
                "do not all authenticate it"
            }
        );
    }
    if let Some(r) = (0..32).find(|&r| t.live_in & (1 << r) != 0 && !(19..=28).contains(&r)) {
        bail!("the tail reads x{r} before writing it");
    }
    let live_in = remat::values(&f, *call, t.live_in, &|a| name(cx, a))?;
    Ok(Facts {
        offset: insns[*call].addr - addr,
        sp_below_fp: (f.fp - sp_call).unsigned_abs(),
        prologue: p,
        live_in,
    })
}

/// The symbol containing `a` (or starting there) and the offset in it.
fn name(cx: &Context, a: u64) -> Option<(String, u64)> {
    let k = cx.symbols.partition_point(|s| s.0 <= a);
    let (start, size, n) = cx.symbols.get(k.checked_sub(1)?)?;
    (a < start + size.max(&1)).then(|| (n.clone(), a - start))
}

/// `kernel/sched/springboard-vmlinux.h` for arm64.
pub fn header(f: &Facts) -> String {
    let p = &f.prologue;
    let live: Vec<String> = f.live_in.iter().map(|(r, v)| v.asm(*r)).collect();
    let saves: Vec<String> = p
        .saves
        .iter()
        .map(|(r, a)| format!("x{r}@x29{}", signed(*a)))
        .collect();
    let canary = p.canary.map_or("none".into(), |(c, g)| {
        format!("x29{} (guard at task+{g:#x})", signed(c))
    });
    format!(
        "/* Generated by `plugsched init` from vmlinux's __schedule (arm64): where\n \
         * its bl __switch_to is and what its frame looks like there\n \
         * (tools/plugsched/src/springboard/arm64, Documentation/live-update.rst). */\n\
         #define PLUGSCHED_SPRINGBOARD_OFFSET {:#x}\n\
         #define PLUGSCHED_SPRINGBOARD_SP {:#x}\n\
         #define PLUGSCHED_SPRINGBOARD_FP {:#x}\n\
         #define PLUGSCHED_SPRINGBOARD_PAC {}\n\
         #define PLUGSCHED_SPRINGBOARD_LIVE_IN \"{}\"\n\
         /* frame {:#x}; saves {}; canary {} */\n",
        f.offset,
        f.sp_below_fp,
        p.fp_below_entry,
        u8::from(p.pac),
        live.join("\\n\\t"),
        p.frame,
        saves.join(" "),
        canary,
    )
}

/// `+0x10`, `-0x8`.
pub(crate) fn signed(v: i64) -> String {
    let sign = if v < 0 { '-' } else { '+' };
    format!("{sign}{:#x}", v.unsigned_abs())
}

/// One line for `springboard-check`.
pub fn describe(f: &Facts) -> String {
    format!(
        "the module's __schedule enters vmlinux's at +{:#x} with sp = x29-{:#x} \
         (x29 = entry sp-{:#x}, pac {}, {} live-in)",
        f.offset,
        f.sp_below_fp,
        f.prologue.fp_below_entry,
        f.prologue.pac,
        f.live_in.len()
    )
}
