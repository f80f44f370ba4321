// SPDX-License-Identifier: GPL-2.0

//! The build's refusal: an address of the module's own memory (a variable
//! or function that is not vmlinux's) that leaves the module's scheduler.
//! vmlinux could keep it after the module is gone -- a lock class key or
//! name, a debugfs file's operations, a callback -- and nothing at unload
//! would know.  Such an object must be vmlinux's (a variable vmlinux has is
//! bound to it; a callback is referenced by its vmlinux name), or the
//! config must say why it cannot outlive the module (`module_private`).

use std::collections::{
    BTreeMap,
    BTreeSet, //
};

use super::escape::arm64::{
    self,
    Arm64, //
};
use super::escape::follow::Isa;
use super::escape::x86::{
    self,
    X86, //
};
use super::escape::{
    Follow,
    Holders,
    Take, //
};
use super::module::{
    Module,
    Target, //
};
use super::plan::{
    describe,
    Plan, //
};
use crate::arch::Arch;
use crate::boundary::statics::StaticKey;

const STT_OBJECT: u8 = 1;
const STT_FUNC: u8 = 2;

/// Data the engine reads, whose pointers to the module's functions are
/// meant: the manifest tables `plugsched init` appends to every file.
const MANIFEST_PREFIX: &str = "manifest_";

/// One address that leaves the module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leak {
    pub sym: usize,
    pub what: String,
    pub how: String,
}

/// How a module symbol is named in messages and matched against
/// `module_private` (`name` or `function:name`).
fn name_of(m: &Module, keys: &BTreeMap<usize, StaticKey>, sym: usize) -> (String, Vec<String>) {
    let s = &m.syms[sym];
    match keys.get(&sym) {
        Some(k) => {
            let mut names = vec![k.name.clone()];
            if !k.scope.is_empty() {
                names.push(format!("{}:{}", k.scope, k.name));
            }
            (describe(k), names)
        }
        None => {
            let kind = if s.st_type() == STT_FUNC {
                "function"
            } else {
                "variable"
            };
            (format!("{kind} {}", s.name), vec![s.name.clone()])
        }
    }
}

/// Where each address the module's code takes goes: the module variables
/// it is stored in, or how it leaves.
pub type Fates = Vec<(Take, Result<Holders, String>)>;

/// Follow every address the module's code takes, the statics of `plan`
/// being vmlinux's.
pub fn fates(m: &Module, plan: &Plan) -> Fates {
    // Functions code outside the module may call: global ones and those
    // whose address data holds (the manifest's).
    let outside: BTreeSet<usize> = data_pointers(m, true)
        .iter()
        .map(|&(_, to)| to)
        .filter(|&s| m.syms[s].st_type() == STT_FUNC)
        .collect();
    let bound = plan.bound.keys().copied().collect();
    match m.arch {
        Arch::X86_64 => fates_with(m, X86::new(), x86::takes(m), outside, bound),
        Arch::Aarch64 => fates_with(m, Arm64, arm64::takes(m), outside, bound),
    }
}

/// Follow each of `takes` with instruction set `isa`.
fn fates_with<I: Isa>(
    m: &Module,
    isa: I,
    takes: Vec<Take>,
    outside: BTreeSet<usize>,
    bound: BTreeSet<usize>,
) -> Fates {
    let mut follow = Follow::new(m, isa, outside, bound);
    takes.into_iter().map(|t| (t, follow.follow(&t))).collect()
}

/// The addresses (string literals, symbols) that leave the module.
pub fn leaving(fates: &Fates) -> (BTreeSet<Target>, BTreeSet<usize>) {
    let mut targets = BTreeSet::new();
    let mut syms = BTreeSet::new();
    for (t, fate) in fates {
        if fate.is_err() {
            targets.insert(t.target);
            syms.extend(t.sym);
        }
    }
    (targets, syms)
}

/// Every address of an object of the module's own (not bound to vmlinux)
/// that leaves its scheduler, except those `allowed` names.
pub fn leaks(
    m: &Module,
    keys: &BTreeMap<usize, StaticKey>,
    plan: &Plan,
    fates: &Fates,
    allowed: &BTreeSet<String>,
) -> Vec<Leak> {
    // (A zero-sized object, such as a lock class key without lockdep, holds
    // nothing that could outlive the module: its address is never read.)
    let mine = |s: usize| {
        let sym = &m.syms[s];
        let empty = sym.st_type() == STT_OBJECT && sym.size == 0;
        !plan.bound.contains_key(&s) && matches!(sym.st_type(), STT_OBJECT | STT_FUNC) && !empty
    };
    let mut pointers = data_pointers(m, false);
    let mut found: BTreeMap<usize, String> = BTreeMap::new();
    for (t, fate) in fates {
        let Some(sym) = t.sym.filter(|&s| mine(s)) else {
            continue;
        };
        match fate {
            Err(how) => {
                found.entry(sym).or_insert_with(|| how.clone());
            }
            Ok(holders) => pointers.extend(holders.iter().map(|&h| (h, sym))),
        }
    }
    // What a leaking object points to leaks with it.
    let mut changed = true;
    while changed {
        changed = false;
        for &(from, to) in &pointers {
            if from != to && mine(to) && found.contains_key(&from) && !found.contains_key(&to) {
                let how = format!(
                    "its address is in {}, whose address leaves",
                    m.syms[from].name
                );
                found.insert(to, how);
                changed = true;
            }
        }
    }
    found
        .into_iter()
        .filter_map(|(sym, how)| {
            let (what, names) = name_of(m, keys, sym);
            (!names.iter().any(|n| allowed.contains(n))).then_some(Leak { sym, what, how })
        })
        .collect()
}

/// Pointers stored in the module's data: (holder, target) symbols, the
/// manifest's only `with_manifest`.
fn data_pointers(m: &Module, with_manifest: bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for r in &m.relocs {
        let name = m.section_name(r.sec);
        if m.is_code(r.sec)
            || !(name.starts_with(".data")
                || name.starts_with(".rodata")
                || name.starts_with(".bss"))
        {
            continue;
        }
        let Some(from) = m.symbol_at(Target {
            sec: r.sec,
            offset: r.offset,
        }) else {
            continue;
        };
        if !with_manifest && m.syms[from].name.starts_with(MANIFEST_PREFIX) {
            continue;
        }
        if let Some(to) = m.reloc_target(r).and_then(|t| m.symbol_at(t)) {
            out.push((from, to));
        }
    }
    out
}
