// SPDX-License-Identifier: GPL-2.0

//! Phase 4: DWARF (gimli).  The real source file and line of every
//! out-of-line function (`DW_AT_decl_file`, through abstract origins;
//! split functions are followed through `DW_AT_ranges`), which is what
//! makes the unity objects `build_policy.o` / `build_utility.o`
//! analysable; the source file and declaration (unit, function, name,
//! rank: `boundary::statics`) of every variable; every inlined call
//! (`DW_TAG_inlined_subroutine`) with its call site.

use std::collections::{
    BTreeMap,
    BTreeSet, //
};
use std::path::Path;

use anyhow::Result;
use gimli::{
    AttributeValue,
    EndianSlice,
    LittleEndian, //
};
use object::{
    Object,
    ObjectSection, //
};

use super::super::algo::{
    FuncId,
    Graph,
    Inlined,
    VarId, //
};
use super::super::statics::{
    self,
    Decl,
    Scopes, //
};
use super::symbols::Symbols;

type R<'a> = EndianSlice<'a, LittleEndian>;
type Die<'a, 'u> = gimli::DebuggingInformationEntry<'u, 'u, R<'a>>;

/// What the walk collects before it is written into the graph.
struct Walk<'s> {
    syms: &'s Symbols,
    src: String,
    /// Source file and line of each function.
    files: BTreeMap<FuncId, (String, u32)>,
    /// Source file of each variable.
    var_files: BTreeMap<VarId, String>,
    /// Declarations of variables, with the symbols they describe.
    decls: Vec<(Vec<VarId>, Decl)>,
    inlined: Vec<Inlined>,
}

/// Walk every DIE: attribute out-of-line functions and variables to their
/// source files, identify statics, and collect inlined calls.
pub(super) fn read(
    obj: &object::File<'_>,
    src: &Path,
    syms: &Symbols,
    g: &mut Graph,
) -> Result<()> {
    let load = |id: gimli::SectionId| -> Result<R<'_>, gimli::Error> {
        let data = obj
            .section_by_name(id.name())
            .and_then(|s| s.data().ok())
            .unwrap_or(&[]);
        Ok(EndianSlice::new(data, LittleEndian))
    };
    let dwarf = gimli::Dwarf::load(load)?;
    let mut w = Walk {
        syms,
        src: src.to_string_lossy().to_string(),
        files: BTreeMap::new(),
        var_files: BTreeMap::new(),
        decls: Vec::new(),
        inlined: Vec::new(),
    };
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        w.unit(&dwarf, &unit)?;
    }
    w.store(g);
    Ok(())
}

impl Walk<'_> {
    /// Every DIE of one compilation unit.
    fn unit<'a>(&mut self, dwarf: &gimli::Dwarf<R<'a>>, unit: &gimli::Unit<R<'a>>) -> Result<()> {
        let unit_key = statics::unit_key(&normalize(
            &unit
                .name
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            &self.src,
        ));
        let mut entries = unit.entries();
        // Stack of (depth, function id) of enclosing out-of-line functions.
        let mut depth = 0isize;
        let mut enclosing: Vec<(isize, FuncId)> = Vec::new();
        let mut scopes = Scopes::default();
        while let Some((delta, entry)) = entries.next_dfs()? {
            depth += delta;
            while enclosing.last().is_some_and(|&(d, _)| d >= depth) {
                enclosing.pop();
            }
            scopes.enter(depth);
            match entry.tag() {
                gimli::DW_TAG_subprogram => {
                    scopes.push(
                        depth,
                        statics::die_name(dwarf, unit, entry).unwrap_or_default(),
                    );
                    if let Some(main) = self.subprogram(dwarf, unit, entry) {
                        enclosing.push((depth, main));
                    }
                }
                gimli::DW_TAG_variable => self.variable(dwarf, unit, &unit_key, &scopes, entry),
                gimli::DW_TAG_inlined_subroutine => {
                    if let Some(&(_, into)) = enclosing.last() {
                        self.inlined_call(dwarf, unit, entry, into);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// An out-of-line function: its file and line; the function symbol it
    /// starts, if any.
    fn subprogram<'a>(
        &mut self,
        dwarf: &gimli::Dwarf<R<'a>>,
        unit: &gimli::Unit<R<'a>>,
        entry: &Die<'a, '_>,
    ) -> Option<FuncId> {
        // Out-of-line code: low_pc, or ranges when the function was split
        // (hot part + `.cold` part).
        let mut ids = Vec::new();
        if let Ok(mut ranges) = dwarf.die_ranges(unit, entry) {
            while let Ok(Some(r)) = ranges.next() {
                ids.extend_from_slice(self.syms.funcs.all_at(r.begin));
            }
        }
        let &main = ids.first()?;
        let file = match decl_file(dwarf, unit, entry, gimli::DW_AT_decl_file, &self.src) {
            Some(f) => Some((f, decl_line(entry))),
            None => origin_file_line(dwarf, unit, entry, &self.src),
        };
        if let Some(f) = file {
            for &id in &ids {
                self.files.entry(id).or_insert_with(|| f.clone());
            }
        }
        Some(main)
    }

    /// A variable with a static address: its file and declaration.
    fn variable<'a>(
        &mut self,
        dwarf: &gimli::Dwarf<R<'a>>,
        unit: &gimli::Unit<R<'a>>,
        unit_key: &str,
        scopes: &Scopes,
        entry: &Die<'a, '_>,
    ) {
        let Ok(Some(AttributeValue::Exprloc(expr))) = entry.attr_value(gimli::DW_AT_location)
        else {
            return;
        };
        let mut ops = expr.operations(unit.encoding());
        // DWARF 5 as clang writes it (the arm64 kernel) names the address
        // by its index in .debug_addr.
        let address = match ops.next() {
            Ok(Some(gimli::Operation::Address { address })) => address,
            Ok(Some(gimli::Operation::AddressIndex { index })) => {
                let Ok(a) = dwarf.address(unit, index) else {
                    return;
                };
                a
            }
            _ => return,
        };
        let ids = self.syms.vars.all_at(address);
        let file = decl_file(dwarf, unit, entry, gimli::DW_AT_decl_file, &self.src)
            .or_else(|| spec_file(dwarf, unit, entry, &self.src));
        if let Some(f) = file {
            for &v in ids {
                self.var_files.entry(v).or_insert_with(|| f.clone());
            }
        }
        if ids.is_empty() {
            return;
        }
        let seq = self.decls.len();
        if let Some(d) = Decl::of(dwarf, unit, unit_key, scopes, entry, seq) {
            self.decls.push((ids.to_vec(), d));
        }
    }

    /// A call inlined into the out-of-line function `into`.
    fn inlined_call<'a>(
        &mut self,
        dwarf: &gimli::Dwarf<R<'a>>,
        unit: &gimli::Unit<R<'a>>,
        entry: &Die<'a, '_>,
        into: FuncId,
    ) {
        let Some((name, file)) = origin_name_file(dwarf, unit, entry, &self.src) else {
            return;
        };
        let call_file =
            decl_file(dwarf, unit, entry, gimli::DW_AT_call_file, &self.src).unwrap_or_default();
        let line = entry
            .attr_value(gimli::DW_AT_call_line)
            .ok()
            .flatten()
            .and_then(|v| v.udata_value())
            .unwrap_or(0);
        self.inlined.push(Inlined {
            into,
            name,
            file,
            site: format!("{call_file}:{line}"),
        });
    }

    /// Write what the walk found into the graph.  Functions without DWARF
    /// (assembly) keep an empty file.
    fn store(mut self, g: &mut Graph) {
        for (id, (f, line)) in self.files {
            g.funcs[id].file = f;
            g.funcs[id].line = line;
        }
        for (id, f) in self.var_files {
            g.vars[id].file = f;
        }
        g.inlined.append(&mut self.inlined);
        // A variable described twice (an abstract and a concrete DIE) keeps
        // its first description.
        let mut seen = BTreeSet::new();
        self.decls.retain(|(ids, _)| seen.insert(ids[0]));
        let just: Vec<Decl> = self.decls.iter().map(|(_, d)| d.clone()).collect();
        for ((ids, _), key) in self.decls.iter().zip(statics::rank(&just)) {
            for &v in ids {
                g.vars[v].decl = key.clone();
            }
        }
    }
}

/// The source file of a DIE (`DW_AT_decl_file`), relative to `src`.
fn decl_file<'a>(
    dwarf: &gimli::Dwarf<R<'a>>,
    unit: &gimli::Unit<R<'a>>,
    entry: &gimli::DebuggingInformationEntry<'_, '_, R<'a>>,
    attr: gimli::DwAt,
    src: &str,
) -> Option<String> {
    let idx = match entry.attr_value(attr).ok()?? {
        AttributeValue::FileIndex(i) => i,
        v => v.udata_value()?,
    };
    file_name(dwarf, unit, idx, src)
}

pub(crate) fn file_name<'a>(
    dwarf: &gimli::Dwarf<R<'a>>,
    unit: &gimli::Unit<R<'a>>,
    idx: u64,
    src: &str,
) -> Option<String> {
    let lp = unit.line_program.as_ref()?;
    let header = lp.header();
    let file = header.file(idx)?;
    let mut path = String::new();
    if let Some(dir) = file.directory(header) {
        let d = dwarf.attr_string(unit, dir).ok()?;
        path.push_str(&d.to_string_lossy());
        path.push('/');
    }
    let n = dwarf.attr_string(unit, file.path_name()).ok()?;
    path.push_str(&n.to_string_lossy());
    Some(normalize(&path, src))
}

/// Make a DWARF path relative to the source tree and drop `./` and `..`.
fn normalize(path: &str, src: &str) -> String {
    let p = path
        .strip_prefix(src)
        .unwrap_or(path)
        .trim_start_matches('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// Follow `DW_AT_abstract_origin` / `DW_AT_specification` to the DIE that
/// carries the name and declaration file.
fn origin_name_file<'a>(
    dwarf: &gimli::Dwarf<R<'a>>,
    unit: &gimli::Unit<R<'a>>,
    entry: &gimli::DebuggingInformationEntry<'_, '_, R<'a>>,
    src: &str,
) -> Option<(String, String)> {
    let mut off = match entry.attr_value(gimli::DW_AT_abstract_origin).ok()?? {
        AttributeValue::UnitRef(o) => o,
        _ => return None,
    };
    for _ in 0..4 {
        let e = unit.entry(off).ok()?;
        let name = e
            .attr_value(gimli::DW_AT_name)
            .ok()
            .flatten()
            .and_then(|v| dwarf.attr_string(unit, v).ok())
            .map(|s| s.to_string_lossy().to_string());
        let file = decl_file(dwarf, unit, &e, gimli::DW_AT_decl_file, src);
        if let (Some(n), Some(f)) = (name, file) {
            return Some((n, f));
        }
        match e.attr_value(gimli::DW_AT_specification).ok()?? {
            AttributeValue::UnitRef(o) => off = o,
            _ => return None,
        }
    }
    None
}

/// The declaration file of a variable definition that refers to its
/// declaration through `DW_AT_specification`.
fn spec_file<'a>(
    dwarf: &gimli::Dwarf<R<'a>>,
    unit: &gimli::Unit<R<'a>>,
    entry: &gimli::DebuggingInformationEntry<'_, '_, R<'a>>,
    src: &str,
) -> Option<String> {
    let AttributeValue::UnitRef(off) = entry.attr_value(gimli::DW_AT_specification).ok()?? else {
        return None;
    };
    let e = unit.entry(off).ok()?;
    decl_file(dwarf, unit, &e, gimli::DW_AT_decl_file, src)
}

/// `DW_AT_decl_line` of a DIE, 0 if absent.
fn decl_line(entry: &gimli::DebuggingInformationEntry<'_, '_, R<'_>>) -> u32 {
    entry
        .attr_value(gimli::DW_AT_decl_line)
        .ok()
        .flatten()
        .and_then(|v| v.udata_value())
        .unwrap_or(0) as u32
}

/// File and line of the DIE an out-of-line instance refers to.
fn origin_file_line<'a>(
    dwarf: &gimli::Dwarf<R<'a>>,
    unit: &gimli::Unit<R<'a>>,
    entry: &gimli::DebuggingInformationEntry<'_, '_, R<'a>>,
    src: &str,
) -> Option<(String, u32)> {
    let AttributeValue::UnitRef(off) = entry.attr_value(gimli::DW_AT_abstract_origin).ok()?? else {
        return None;
    };
    let e = unit.entry(off).ok()?;
    let file = decl_file(dwarf, unit, &e, gimli::DW_AT_decl_file, src)?;
    Some((file, decl_line(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised() {
        assert_eq!(
            normalize("/s/kernel/sched/../sched/core.c", "/s"),
            "kernel/sched/core.c"
        );
        assert_eq!(
            normalize("/s/./kernel/sched/fair.c", "/s/"),
            "kernel/sched/fair.c"
        );
        assert_eq!(
            normalize("include/linux/sched.h", "/s"),
            "include/linux/sched.h"
        );
    }
}
