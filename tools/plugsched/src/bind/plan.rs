// SPDX-License-Identifier: GPL-2.0

//! What `bind-data` changes in the module's scheduler object: which of its
//! statics are vmlinux's (by [`StaticKey`], from `bindings.json`), and
//! which relocations therefore point at vmlinux instead (the statics'
//! references and the string literals vmlinux has).

use std::collections::{
    BTreeMap,
    BTreeSet,
    HashMap, //
};

use super::module::{
    Module,
    Reloc,
    Target, //
};
use crate::boundary::bindings::{
    fnv,
    hex,
    Bindings,
    StaticBinding,
    StringBinding, //
};
use crate::boundary::statics::StaticKey;
use crate::klp::VMLINUX_PREFIX;

/// One relocation that now points at vmlinux: its new symbol (an undefined
/// `__plugsched_vmlinux_<name>,<sympos>`) and addend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    pub rela_sec: usize,
    pub index: usize,
    pub symbol: String,
    pub addend: i64,
}

/// The decisions.
#[derive(Debug, Default)]
pub struct Plan {
    /// Module symbol -> the vmlinux static it is.
    pub bound: BTreeMap<usize, StaticBinding>,
    /// Constants vmlinux has (same bytes): vmlinux's if their address
    /// leaves the module, else the module's copy is as good.
    pub constants: BTreeMap<usize, StaticBinding>,
    pub redirects: Vec<Redirect>,
    /// References to string literals now vmlinux's.
    pub strings: usize,
    /// Statics whose size the module's scheduler changed.
    pub errors: Vec<String>,
}

/// The undefined symbol naming vmlinux's `name` at `sympos`.
pub fn vmlinux_symbol(name: &str, sympos: u64) -> String {
    format!("{VMLINUX_PREFIX}{name},{sympos}")
}

/// How a static is named in messages: `__key` of sched_tick_start
/// (kernel/sched/core.c, #1).
pub fn describe(key: &StaticKey) -> String {
    let scope = if key.scope.is_empty() {
        String::new()
    } else {
        format!(" of {}", key.scope)
    };
    let nth = if key.ordinal > 0 {
        format!(", #{}", key.ordinal + 1)
    } else {
        String::new()
    };
    format!("{}{scope} ({}{nth})", key.name, key.unit)
}

/// Which statics of the module are vmlinux's: the state ones `bindings`
/// says are shared or external (their size must be vmlinux's), and, as
/// candidates, the constants with vmlinux's bytes.
pub fn statics(m: &Module, keys: &BTreeMap<usize, StaticKey>, b: &Bindings) -> Plan {
    let by_key: HashMap<&StaticKey, &StaticBinding> =
        b.statics.iter().map(|s| (&s.key, s)).collect();
    let mut plan = Plan::default();
    for (&sym, key) in keys {
        let Some(&v) = by_key.get(key) else { continue };
        if !v.binds() {
            continue;
        }
        if v.kind == "const" {
            if same_constant(m, sym, v) {
                plan.constants.insert(sym, v.clone());
            }
            continue; // else the module's own: a change edited it
        }
        let size = m.syms[sym].size;
        if size != v.size {
            plan.errors.push(format!(
                "{} is vmlinux's {} ({} bytes), but the module's scheduler makes it {} bytes: a change may not alter a variable it shares with vmlinux",
                describe(key),
                v.symbol,
                v.size,
                size
            ));
        }
        plan.bound.insert(sym, v.clone());
    }
    plan
}

impl Plan {
    /// Given the addresses that leave the module (`targets`: strings and
    /// data; `syms`: symbols), bind the constants among them and redirect
    /// every reference to a bound static and to a leaving string that
    /// vmlinux has.  (An address that stays in the module's code may stay
    /// the module's: vmlinux keeps nothing of it.)
    pub fn redirect(
        &mut self,
        m: &Module,
        b: &Bindings,
        targets: &BTreeSet<Target>,
        syms: &BTreeSet<usize>,
    ) {
        for (s, v) in std::mem::take(&mut self.constants) {
            if syms.contains(&s) {
                self.bound.insert(s, v);
            }
        }
        let strings: HashMap<&str, &StringBinding> =
            b.strings.iter().map(|s| (s.hex.as_str(), s)).collect();
        for r in &m.relocs {
            if let Some(d) = redirect(m, self, &strings, targets, r) {
                self.strings += usize::from(is_string(m, r));
                self.redirects.push(d);
            }
        }
    }
}

/// Whether the module's constant `sym` is vmlinux's `v`: same size, and
/// same bytes unless it holds pointers (relocations, not bytes, here).
fn same_constant(m: &Module, sym: usize, v: &StaticBinding) -> bool {
    let s = &m.syms[sym];
    if s.size != v.size {
        return false;
    }
    let sec = usize::from(s.shndx);
    if m.relocs_within(sec, s.value, s.size) {
        return true;
    }
    match (m.bytes(sec, s.value, s.size), &v.hash) {
        (Some(b), Some(h)) => fnv(&b) == *h,
        _ => false,
    }
}

fn is_string(m: &Module, r: &Reloc) -> bool {
    m.reloc_target(r)
        .is_some_and(|t| m.is_string_section(t.sec))
}

/// The new target of `r`, if it points at a bound static (and is not in
/// that static's own initializer) or at a leaving string vmlinux has.
fn redirect(
    m: &Module,
    plan: &Plan,
    strings: &HashMap<&str, &StringBinding>,
    leaving: &BTreeSet<Target>,
    r: &Reloc,
) -> Option<Redirect> {
    if !m.is_data_reference(r.rtype) {
        return None; // (calls, GOT, TLS: not data references)
    }
    let t = m.reloc_target(r)?;
    let base = m.syms[r.sym].value as i64 + r.addend;
    if m.is_string_section(t.sec) {
        if !leaving.contains(&t) {
            return None;
        }
        if !(m.is_code(r.sec)
            || m.section_name(r.sec).starts_with(".data")
            || m.section_name(r.sec).starts_with(".rodata"))
        {
            return None;
        }
        let s = strings.get(hex(m.string_at(t)?).as_str())?;
        return Some(Redirect {
            rela_sec: r.rela_sec,
            index: r.index,
            symbol: vmlinux_symbol(&s.anchor, s.sympos),
            addend: s.offset as i64 + base - t.offset as i64,
        });
    }
    let sym = m.symbol_at(t)?;
    let v = plan.bound.get(&sym)?;
    let own = &m.syms[sym];
    if r.sec == usize::from(own.shndx) && r.offset >= own.value && r.offset < own.value + own.size {
        return None; // the unused copy's own initializer
    }
    Some(Redirect {
        rela_sec: r.rela_sec,
        index: r.index,
        symbol: vmlinux_symbol(&v.symbol, v.sympos),
        addend: base - own.value as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_descriptions() {
        assert_eq!(
            vmlinux_symbol("__key.9", 2),
            "__plugsched_vmlinux___key.9,2"
        );
        let k = StaticKey {
            unit: "kernel/sched/core.c".into(),
            scope: "sched_tick_start".into(),
            name: "__key".into(),
            ordinal: 1,
        };
        assert_eq!(
            describe(&k),
            "__key of sched_tick_start (kernel/sched/core.c, #2)"
        );
        let k = StaticKey {
            ordinal: 0,
            scope: String::new(),
            name: "cgroup_mode".into(),
            ..k
        };
        assert_eq!(describe(&k), "cgroup_mode (kernel/sched/core.c)");
    }
}
