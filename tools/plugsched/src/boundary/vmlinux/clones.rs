// SPDX-License-Identifier: GPL-2.0

//! Phase 5: compiler clones (`foo.isra.0`, `foo.constprop.0`, `foo.part.0`,
//! `foo.cold`) linked to the function they were cloned from, `foo`, when it
//! still exists: the one of that name, or, when several functions have
//! it, the one of the clone's source file (so after DWARF).

use std::collections::HashMap;

use super::super::algo::{
    FuncId,
    Graph, //
};

/// Set `clone_of` of every clone whose origin is known.
pub(super) fn link(g: &mut Graph, by_name: &HashMap<String, Vec<FuncId>>) {
    for i in 0..g.funcs.len() {
        if !g.funcs[i].is_clone() {
            continue;
        }
        let Some(ids) = by_name.get(g.funcs[i].base_name()) else {
            continue;
        };
        let file = &g.funcs[i].file;
        let origin = match ids.as_slice() {
            &[only] => Some(only),
            _ => {
                let mut same = ids.iter().filter(|&&b| &g.funcs[b].file == file);
                match (same.next(), same.next()) {
                    (Some(&b), None) => Some(b),
                    _ => None,
                }
            }
        };
        g.funcs[i].clone_of = origin;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boundary::algo::Func;

    #[test]
    fn clones_find_their_origin() {
        let f = |name: &str, file: &str| Func {
            name: name.into(),
            file: file.into(),
            ..Default::default()
        };
        let mut g = Graph {
            funcs: vec![
                f("pick", "a.c"),
                f("pick.isra.0", "a.c"),
                f("dup", "a.c"),
                f("dup", "b.c"),
                f("dup.part.0", "b.c"),
                f("dup.cold", "c.c"),
                f("gone.constprop.0", "a.c"),
            ],
            ..Default::default()
        };
        let mut by_name: HashMap<String, Vec<FuncId>> = HashMap::new();
        for (i, f) in g.funcs.iter().enumerate() {
            by_name.entry(f.name.clone()).or_default().push(i);
        }
        link(&mut g, &by_name);
        let of: Vec<Option<FuncId>> = g.funcs.iter().map(|f| f.clone_of).collect();
        assert_eq!(of, [None, Some(0), None, None, Some(3), None, None]);
    }
}
