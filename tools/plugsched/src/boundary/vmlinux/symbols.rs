// SPDX-License-Identifier: GPL-2.0

//! Phase 1: the function symbols (compiler clones included) and the data
//! symbols (per-CPU variables included) of vmlinux's symbol table, with
//! their kallsyms `sympos`, binding, export and init status.

use std::collections::{
    BTreeSet,
    HashMap, //
};

use object::{
    Object,
    ObjectSection,
    ObjectSymbol,
    SymbolKind, //
};

use super::super::algo::{
    Func,
    FuncId,
    Graph,
    Var, //
};
use super::index::AddrIndex;
use super::sections::{
    is_counted_code,
    DataLayout, //
};

/// What the later phases look symbols up by.
pub(super) struct Symbols {
    /// Functions by address.
    pub(super) funcs: AddrIndex,
    /// Variables by address.
    pub(super) vars: AddrIndex,
    /// Functions by name (clones are linked to their origin by it).
    pub(super) by_name: HashMap<String, Vec<FuncId>>,
    /// Which data is state and which constants.
    pub(super) layout: DataLayout,
    /// Assembly code of the counted code sections under symbols of no
    /// function type (`SYM_CODE_START`: entry code, boot code): (address,
    /// size), sorted.
    pub(super) asm: Vec<(u64, u64)>,
}

/// Fill `g.funcs` and `g.vars` from the symbol table.
pub(super) fn read(obj: &object::File<'_>, g: &mut Graph) -> Symbols {
    g.funcs = functions(obj);
    let layout = DataLayout::new(obj);
    g.vars = variables(obj, &layout);
    let mut by_name: HashMap<String, Vec<FuncId>> = HashMap::new();
    for (i, f) in g.funcs.iter().enumerate() {
        by_name.entry(f.name.clone()).or_default().push(i);
    }
    Symbols {
        funcs: AddrIndex::new(&g.funcs),
        vars: AddrIndex::new_vars(&g.vars),
        by_name,
        layout,
        asm: asm_code(obj),
    }
}

/// Symbols with a size but no type in the counted code sections: the
/// assembly code that `SYM_CODE_START`/`SYM_CODE_END` delimit.
fn asm_code(obj: &object::File<'_>) -> Vec<(u64, u64)> {
    let mut asm: Vec<(u64, u64)> = obj
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Unknown && s.size() > 0)
        .filter(|s| {
            s.section_index()
                .and_then(|i| obj.section_by_index(i).ok())
                .is_some_and(|sec| sec.name().is_ok_and(is_counted_code))
        })
        .map(|s| (s.address(), s.size()))
        .collect();
    asm.sort();
    asm.dedup();
    asm
}

/// Every function symbol with a size, aliases of the same symbol once,
/// not the `__pfx_` padding symbols.
fn functions(obj: &object::File<'_>) -> Vec<Func> {
    let mut exported = BTreeSet::new();
    let init_text = obj
        .section_by_name(".init.text")
        .map(|s| (s.address(), s.size()));
    let mut seen = BTreeSet::new();
    let mut funcs = Vec::new();
    for s in obj.symbols() {
        let Ok(name) = s.name() else { continue };
        if let Some(e) = name.strip_prefix("__ksymtab_") {
            exported.insert(e.to_string());
        }
        if s.kind() != SymbolKind::Text || s.size() == 0 || name.starts_with("__pfx_") {
            continue;
        }
        if !seen.insert((s.address(), name.to_string())) {
            continue; // aliases of the same symbol
        }
        let init = init_text.is_some_and(|(a, n)| s.address() >= a && s.address() < a + n);
        funcs.push(Func {
            name: name.to_string(),
            global: s.is_global(),
            init,
            addr: s.address(),
            size: s.size(),
            ..Default::default()
        });
    }
    let pos = sympos(funcs.iter().map(|f| (f.name.as_str(), f.addr)));
    for (f, p) in funcs.iter_mut().zip(pos) {
        f.sympos = p;
        f.exported = exported.contains(&f.name);
    }
    funcs
}

/// Every data symbol with a size (per-CPU variables included), aliases of
/// the same symbol once.
fn variables(obj: &object::File<'_>, layout: &DataLayout) -> Vec<Var> {
    let mut seen = BTreeSet::new();
    let mut vars = Vec::new();
    for s in obj.symbols() {
        let Ok(name) = s.name() else { continue };
        if !matches!(s.kind(), SymbolKind::Data | SymbolKind::Tls) || s.size() == 0 {
            continue;
        }
        if !seen.insert((s.address(), name.to_string())) {
            continue;
        }
        let section = s
            .section_index()
            .and_then(|i| obj.section_by_index(i).ok())
            .and_then(|sec| sec.name().ok().map(str::to_string))
            .unwrap_or_default();
        vars.push(Var {
            name: name.to_string(),
            global: s.is_global(),
            addr: s.address(),
            size: s.size(),
            kind: layout.kind(&section, s.address()),
            ..Default::default()
        });
    }
    let pos = sympos(vars.iter().map(|v| (v.name.as_str(), v.addr)));
    for (v, p) in vars.iter_mut().zip(pos) {
        v.sympos = p;
    }
    vars
}

/// kallsyms sympos of each (name, address): 0 when the name is unique,
/// else the 1-based position in address order among symbols of that name.
fn sympos<'a>(syms: impl Iterator<Item = (&'a str, u64)>) -> Vec<u32> {
    let syms: Vec<(&str, u64)> = syms.collect();
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (n, _)) in syms.iter().enumerate() {
        by_name.entry(n).or_default().push(i);
    }
    let mut pos = vec![0; syms.len()];
    for ids in by_name.values_mut() {
        if ids.len() > 1 {
            ids.sort_by_key(|&i| syms[i].1);
            for (k, &i) in ids.iter().enumerate() {
                pos[i] = k as u32 + 1;
            }
        }
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sympos_in_address_order() {
        let p = sympos([("a", 30), ("b", 5), ("a", 10), ("a", 20)].into_iter());
        assert_eq!(p, vec![3, 0, 1, 2]);
    }
}
