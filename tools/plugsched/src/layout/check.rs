// SPDX-License-Identifier: GPL-2.0

//! Which types the module shares with vmlinux, and whether both sides lay
//! them out alike.  Shared are: the types the boundary config lists
//! (`shared_types`), every struct and union the module defines in an
//! in-boundary header (vmlinux's own scheduler code includes them too), and
//! every named struct or union one of those holds by value.

use std::collections::{
    BTreeMap,
    BTreeSet,
    VecDeque, //
};

use super::compare::diff;
use super::dwarf::Def;
use super::types::Layout;

/// Why a type is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Named in the config's `shared_types`.
    Listed,
    /// Defined in an in-boundary header.
    Header,
    /// Held by value in this (checked) type.
    Embedded(String),
}

/// The definitions of one side (the module's objects, or vmlinux's
/// scheduler), by name.
#[derive(Default)]
pub struct Side(BTreeMap<String, Vec<Def>>);

impl Side {
    pub fn new(defs: Vec<Def>) -> Self {
        let mut m: BTreeMap<String, Vec<Def>> = BTreeMap::new();
        for d in defs {
            m.entry(d.name.clone()).or_default().push(d);
        }
        Side(m)
    }

    /// The definition of `name` if this side has one, or, if its
    /// compilation units define it differently, what differs.
    fn get(&self, name: &str) -> Option<Result<&Def, Vec<String>>> {
        let defs = self.0.get(name)?;
        let first = &defs[0];
        Some(match defs.iter().find(|d| d.layout != first.layout) {
            None => Ok(first),
            Some(other) => {
                let mut lines = vec![format!(
                    "defined differently in {} and {}:",
                    first.cu, other.cu
                )];
                lines.extend(diff(&first.layout, &other.layout));
                Err(lines)
            }
        })
    }

    fn layouts<'s>(&'s self, name: &str) -> impl Iterator<Item = &'s Layout> + 's {
        self.0.get(name).into_iter().flatten().map(|d| &d.layout)
    }
}

/// `rq` -> `struct rq`; `union foo` stays.
pub fn type_key(listed: &str) -> String {
    if listed.contains(' ') {
        listed.to_string()
    } else {
        format!("struct {listed}")
    }
}

/// Whether `file` (as DWARF names it) is one of `headers` (paths relative
/// to the source tree).
fn in_headers(file: &str, headers: &[String]) -> bool {
    headers
        .iter()
        .any(|h| file == h || file.ends_with(&format!("/{h}")))
}

/// The types to check and why, from the module's side: the listed ones,
/// those it defines in `headers`, and, transitively, every named type
/// they hold by value.
pub fn select(
    module: &Side,
    listed: &BTreeSet<String>,
    headers: &[String],
) -> BTreeMap<String, Reason> {
    let mut sel: BTreeMap<String, Reason> = BTreeMap::new();
    for l in listed {
        sel.insert(l.clone(), Reason::Listed);
    }
    for (name, defs) in &module.0 {
        if defs.iter().any(|d| in_headers(&d.file, headers)) {
            sel.entry(name.clone()).or_insert(Reason::Header);
        }
    }
    let mut queue: VecDeque<String> = sel.keys().cloned().collect();
    while let Some(name) = queue.pop_front() {
        let embeds: BTreeSet<String> = module
            .layouts(&name)
            .flat_map(|l| l.embeds.iter().cloned())
            .collect();
        for e in embeds {
            if !sel.contains_key(&e) {
                sel.insert(e.clone(), Reason::Embedded(name.clone()));
                queue.push_back(e);
            }
        }
    }
    sel
}

/// A shared type whose layouts differ, or a listed one missing on a side.
#[derive(Debug)]
pub struct Finding {
    pub name: String,
    pub reason: Reason,
    /// Where it is declared (module's side if it has it).
    pub file: String,
    pub lines: Vec<String>,
}

/// Whether the module's side is all of its scheduler objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// All of them: a listed type they do not define is an error.
    Whole,
    /// Only some (a test compiles one): what they do not define is not
    /// known to be missing.
    Partial,
}

/// Compare every selected type.
pub fn check(
    module: &Side,
    vmlinux: &Side,
    sel: &BTreeMap<String, Reason>,
    coverage: Coverage,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, reason) in sel {
        let (md, vm) = (module.get(name), vmlinux.get(name));
        let file = [&md, &vm]
            .iter()
            .find_map(|s| match s {
                Some(Ok(d)) => Some(d.file.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let lines = match (md, vm) {
            (Some(Err(l)), _) => prefixed("the module's objects: ", l),
            (_, Some(Err(l))) => prefixed("vmlinux's scheduler: ", l),
            (Some(Ok(m)), Some(Ok(v))) => diff(&v.layout, &m.layout),
            _ if *reason != Reason::Listed => vec![],
            (Some(_), None) => vec!["vmlinux's scheduler objects do not define it".into()],
            (None, _) if coverage == Coverage::Partial => vec![],
            (None, Some(_)) => vec!["the module's objects do not define it".into()],
            (None, None) => vec!["neither the module nor vmlinux's scheduler defines it".into()],
        };
        if !lines.is_empty() {
            out.push(Finding {
                name: name.clone(),
                reason: reason.clone(),
                file,
                lines,
            });
        }
    }
    out
}

fn prefixed(p: &str, mut lines: Vec<String>) -> Vec<String> {
    if let Some(first) = lines.first_mut() {
        first.insert_str(0, p);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::types::Field;

    fn def(name: &str, file: &str, cu: &str, size: u64, embeds: &[&str]) -> Def {
        Def {
            name: name.into(),
            file: file.into(),
            cu: cu.into(),
            layout: Layout {
                size: Some(size),
                fields: vec![Field {
                    path: "x".into(),
                    offset: 0,
                    bits: None,
                    size: Some(size),
                    ty: "char[]".into(),
                }],
                embeds: embeds.iter().map(|s| s.to_string()).collect(),
            },
        }
    }

    const H: &str = "/b/kernel/sched/sched.h";

    #[test]
    fn selection_lists_headers_and_embedded_types() {
        let module = Side::new(vec![
            def("struct rq", H, "a.c", 8, &["struct cfs_rq"]),
            def(
                "struct cfs_rq",
                "/s/include/x.h",
                "a.c",
                4,
                &["struct load"],
            ),
            def("struct load", "/s/include/y.h", "a.c", 4, &[]),
            def("struct lb_env", "/b/kernel/sched/fair.c", "a.c", 4, &[]),
        ]);
        let listed = ["struct task_struct".to_string()].into();
        let sel = select(&module, &listed, &["kernel/sched/sched.h".into()]);
        assert_eq!(sel["struct task_struct"], Reason::Listed);
        assert_eq!(sel["struct rq"], Reason::Header);
        assert_eq!(sel["struct cfs_rq"], Reason::Embedded("struct rq".into()));
        assert_eq!(sel["struct load"], Reason::Embedded("struct cfs_rq".into()));
        assert!(!sel.contains_key("struct lb_env"), "defined in a .c file");
    }

    #[test]
    fn missing_types_matter_only_when_listed() {
        let module = Side::new(vec![def("struct new", H, "a.c", 8, &[])]);
        let vmlinux = Side::new(vec![def("struct old", H, "a.c", 8, &[])]);
        let mut sel = BTreeMap::new();
        sel.insert("struct new".to_string(), Reason::Header);
        assert!(check(&module, &vmlinux, &sel, Coverage::Whole).is_empty());
        for n in ["struct new", "struct old", "struct none"] {
            sel.insert(n.to_string(), Reason::Listed);
        }
        let f = check(&module, &vmlinux, &sel, Coverage::Whole);
        let got: Vec<_> = f
            .iter()
            .map(|f| (f.name.as_str(), f.lines[0].as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("struct new", "vmlinux's scheduler objects do not define it"),
                (
                    "struct none",
                    "neither the module nor vmlinux's scheduler defines it"
                ),
                ("struct old", "the module's objects do not define it"),
            ]
        );
        // Some of the module's objects only: what they lack is not missing.
        let f = check(&module, &vmlinux, &sel, Coverage::Partial);
        let got: Vec<_> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(got, ["struct new"]);
    }

    #[test]
    fn definitions_of_one_side_must_agree() {
        let module = Side::new(vec![
            def("struct rq", H, "core.c", 8, &[]),
            def("struct rq", H, "fair.c", 16, &[]),
        ]);
        let vmlinux = Side::new(vec![def("struct rq", H, "core.c", 8, &[])]);
        let sel = [("struct rq".to_string(), Reason::Header)].into();
        let f = check(&module, &vmlinux, &sel, Coverage::Whole);
        assert_eq!(
            f[0].lines[0],
            "the module's objects: defined differently in core.c and fair.c:"
        );
        assert_eq!(f[0].lines[1], "size 8 -> 16");
    }

    #[test]
    fn listed_names_default_to_struct() {
        assert_eq!(type_key("rq"), "struct rq");
        assert_eq!(type_key("union u"), "union u");
    }
}
