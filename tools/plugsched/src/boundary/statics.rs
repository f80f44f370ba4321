// SPDX-License-Identifier: GPL-2.0

//! The identity of a `static` variable across two builds of the same
//! source: vmlinux, and the module's scheduler compiled from the extracted
//! files.  Symbol names do not carry it: the compiler numbers function-scope
//! statics per translation unit (`__key.9` in vmlinux is `__key.4` in the
//! module), and several statics of one function share a name (two lock
//! initialisations, two `__key`s).  DWARF does: every static has a
//! `DW_TAG_variable` with its address, under the function that declares it
//! (the abstract instance when the function is inlined), with its line and
//! column.  A static is named by
//!
//! * its compilation unit, as [`unit_key`] spells it (the module's
//!   `mod_build_policy.c` is vmlinux's `build_policy.c`; a `static inline`
//!   header function has one copy of its statics per unit),
//! * the function that declares it (empty at file scope),
//! * its name in the source (`__key`),
//! * its rank among the statics of that unit, function and name in source
//!   order (line, column, then DWARF order).

use std::collections::BTreeMap;

use gimli::{
    AttributeValue,
    EndianSlice,
    LittleEndian, //
};
use serde::{
    Deserialize,
    Serialize, //
};

type R<'a> = EndianSlice<'a, LittleEndian>;

/// Where the source declares a static (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StaticKey {
    /// Compilation unit ([`unit_key`]).
    pub unit: String,
    /// Declaring function, empty at file scope.
    pub scope: String,
    /// Name in the source.
    pub name: String,
    /// Rank among statics of the same unit, scope and name.
    pub ordinal: u32,
}

impl StaticKey {
    /// Whether DWARF described the variable.
    pub fn is_known(&self) -> bool {
        !self.name.is_empty()
    }
}

/// One static as read from DWARF, before ranking.
#[derive(Clone, Debug, Default)]
pub struct Decl {
    pub unit: String,
    pub scope: String,
    pub name: String,
    pub line: u64,
    pub column: u64,
    /// Order of the DIE in the walk (tie breaker).
    pub seq: usize,
}

impl Decl {
    /// The identity of the variable DIE `entry` declared in unit `unit`
    /// (its key `unit_key`) inside `scopes`, visited `seq`-th; `None` if
    /// it has no name.
    pub fn of(
        dwarf: &gimli::Dwarf<R<'_>>,
        unit: &gimli::Unit<R<'_>>,
        unit_key: &str,
        scopes: &Scopes,
        entry: &gimli::DebuggingInformationEntry<'_, '_, R<'_>>,
        seq: usize,
    ) -> Option<Self> {
        let name = die_name(dwarf, unit, entry)?;
        let (line, column) = decl_position(unit, entry);
        Some(Decl {
            unit: unit_key.to_string(),
            scope: scopes.current().to_string(),
            name,
            line,
            column,
            seq,
        })
    }
}

/// The unit key of a compilation unit name: from `kernel/sched/` on, with
/// the module's `mod_` unity files named as vmlinux's; other units as given.
pub fn unit_key(cu: &str) -> String {
    let Some(at) = cu.rfind("kernel/sched/") else {
        return cu.to_string();
    };
    let rel = &cu[at..];
    match rel.rsplit_once('/') {
        Some((dir, file)) => format!("{dir}/{}", file.strip_prefix("mod_").unwrap_or(file)),
        None => rel.to_string(),
    }
}

/// The keys of `decls` (same order): each ranked among those of the same
/// unit, scope and name by (line, column, seq).
pub fn rank(decls: &[Decl]) -> Vec<StaticKey> {
    let mut groups: BTreeMap<(&str, &str, &str), Vec<usize>> = BTreeMap::new();
    for (i, d) in decls.iter().enumerate() {
        groups
            .entry((&d.unit, &d.scope, &d.name))
            .or_default()
            .push(i);
    }
    let mut out = vec![StaticKey::default(); decls.len()];
    for ids in groups.values_mut() {
        ids.sort_by_key(|&i| (decls[i].line, decls[i].column, decls[i].seq));
        for (k, &i) in ids.iter().enumerate() {
            let d = &decls[i];
            out[i] = StaticKey {
                unit: d.unit.clone(),
                scope: d.scope.clone(),
                name: d.name.clone(),
                ordinal: k as u32,
            };
        }
    }
    out
}

/// The name of a DIE, through `DW_AT_abstract_origin` and
/// `DW_AT_specification` (concrete instances of inlined functions and of
/// their variables carry no name of their own).
pub fn die_name(
    dwarf: &gimli::Dwarf<R<'_>>,
    unit: &gimli::Unit<R<'_>>,
    entry: &gimli::DebuggingInformationEntry<'_, '_, R<'_>>,
) -> Option<String> {
    let mut e = entry.clone();
    for _ in 0..4 {
        if let Some(v) = e.attr_value(gimli::DW_AT_name).ok().flatten() {
            let s = dwarf.attr_string(unit, v).ok()?;
            return Some(s.to_string_lossy().into_owned());
        }
        let next = [gimli::DW_AT_abstract_origin, gimli::DW_AT_specification]
            .iter()
            .find_map(|&a| match e.attr_value(a).ok().flatten() {
                Some(AttributeValue::UnitRef(o)) => Some(o),
                _ => None,
            })?;
        e = unit.entry(next).ok()?;
    }
    None
}

/// `DW_AT_decl_line` and `DW_AT_decl_column` of a DIE or of its origin.
pub fn decl_position(
    unit: &gimli::Unit<R<'_>>,
    entry: &gimli::DebuggingInformationEntry<'_, '_, R<'_>>,
) -> (u64, u64) {
    let get = |e: &gimli::DebuggingInformationEntry<'_, '_, R<'_>>, a| {
        e.attr_value(a).ok().flatten().and_then(|v| v.udata_value())
    };
    if let Some(line) = get(entry, gimli::DW_AT_decl_line) {
        return (line, get(entry, gimli::DW_AT_decl_column).unwrap_or(0));
    }
    if let Some(AttributeValue::UnitRef(o)) = entry
        .attr_value(gimli::DW_AT_abstract_origin)
        .ok()
        .flatten()
    {
        if let Ok(e) = unit.entry(o) {
            return (
                get(&e, gimli::DW_AT_decl_line).unwrap_or(0),
                get(&e, gimli::DW_AT_decl_column).unwrap_or(0),
            );
        }
    }
    (0, 0)
}

/// The functions enclosing the DIE being visited in a depth-first walk.
#[derive(Default)]
pub struct Scopes {
    stack: Vec<(isize, String)>,
}

impl Scopes {
    /// Enter a DIE at `depth`: leave the functions it is not inside of.
    pub fn enter(&mut self, depth: isize) {
        while self.stack.last().is_some_and(|&(d, _)| d >= depth) {
            self.stack.pop();
        }
    }

    /// A function DIE at `depth`, named `name`.
    pub fn push(&mut self, depth: isize, name: String) {
        self.stack.push((depth, name));
    }

    /// The innermost enclosing function ("" at file scope).
    pub fn current(&self) -> &str {
        self.stack.last().map_or("", |(_, n)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_of_both_builds_agree() {
        assert_eq!(unit_key("kernel/sched/core.c"), "kernel/sched/core.c");
        assert_eq!(
            unit_key("/w/build/sched-src/test/kernel/sched/mod_build_policy.c"),
            "kernel/sched/build_policy.c"
        );
        assert_eq!(
            unit_key("/src/linux/kernel/sched/build_policy.c"),
            "kernel/sched/build_policy.c"
        );
        assert_eq!(unit_key("mm/slub.c"), "mm/slub.c");
    }

    fn d(scope: &str, name: &str, line: u64, column: u64, seq: usize) -> Decl {
        Decl {
            unit: "kernel/sched/core.c".into(),
            scope: scope.into(),
            name: name.into(),
            line,
            column,
            seq,
        }
    }

    #[test]
    fn statics_are_ranked_in_source_order() {
        // Two __key of one macro line (INIT_DELAYED_WORK: the work's and
        // the timer's), one further down, one in another function; DWARF
        // order differs from source order.
        let keys = rank(&[
            d("sched_tick_start", "__key", 20, 3, 2),
            d("sched_tick_start", "__key", 15, 3, 1),
            d("sched_tick_start", "__key", 15, 3, 0),
            d("init_cfs_rq", "__key", 7, 2, 3),
            d("", "cgroup_mode", 1, 12, 4),
        ]);
        let got: Vec<(&str, u32)> = keys.iter().map(|k| (k.scope.as_str(), k.ordinal)).collect();
        assert_eq!(
            got,
            vec![
                ("sched_tick_start", 2),
                ("sched_tick_start", 1),
                ("sched_tick_start", 0),
                ("init_cfs_rq", 0),
                ("", 0)
            ]
        );
        assert!(keys[4].is_known() && !StaticKey::default().is_known());
    }
}
