// SPDX-License-Identifier: GPL-2.0

//! What differs between two layouts of the same type, one line per
//! difference, vmlinux's value first: `field foo (offset 4592 -> 4600)`.

use std::collections::HashMap;

use super::types::{
    Field,
    Layout, //
};

/// The differences from `vm` (vmlinux's layout) to `md` (the module's):
/// the size, then fields the module added, removed and changed.
pub fn diff(vm: &Layout, md: &Layout) -> Vec<String> {
    let mut out = Vec::new();
    if vm.size != md.size {
        out.push(format!("size {} -> {}", opt(vm.size), opt(md.size)));
    }
    let vm_by = by_path(&vm.fields);
    let md_by = by_path(&md.fields);
    for f in md
        .fields
        .iter()
        .filter(|f| !vm_by.contains_key(f.path.as_str()))
    {
        out.push(format!("field {} added ({})", f.path, describe(f)));
    }
    for f in vm
        .fields
        .iter()
        .filter(|f| !md_by.contains_key(f.path.as_str()))
    {
        out.push(format!("field {} removed (was {})", f.path, describe(f)));
    }
    for f in &vm.fields {
        if let Some(m) = md_by.get(f.path.as_str()) {
            let changes = field_changes(f, m);
            if !changes.is_empty() {
                out.push(format!("field {} ({})", f.path, changes.join(", ")));
            }
        }
    }
    out
}

fn by_path(fields: &[Field]) -> HashMap<&str, &Field> {
    let mut m = HashMap::new();
    for f in fields {
        m.entry(f.path.as_str()).or_insert(f);
    }
    m
}

/// `offset O, size S, type T` (and the bits of a bit-field).
fn describe(f: &Field) -> String {
    let mut s = format!("offset {}", f.offset);
    if let Some(b) = f.bits {
        s.push_str(&format!(", bits {}", bits(b)));
    }
    s.push_str(&format!(", size {}, type {}", opt(f.size), f.ty));
    s
}

/// `offset a -> b`, `size a -> b`, `type a -> b` for what differs.
fn field_changes(vm: &Field, md: &Field) -> Vec<String> {
    let mut c = Vec::new();
    if vm.offset != md.offset {
        c.push(format!("offset {} -> {}", vm.offset, md.offset));
    }
    if vm.bits != md.bits {
        let b = |x: Option<(u64, u64)>| x.map_or("none".into(), bits);
        c.push(format!("bits {} -> {}", b(vm.bits), b(md.bits)));
    }
    if vm.size != md.size {
        c.push(format!("size {} -> {}", opt(vm.size), opt(md.size)));
    }
    if vm.ty != md.ty {
        c.push(format!("type {} -> {}", vm.ty, md.ty));
    }
    c
}

fn bits((at, width): (u64, u64)) -> String {
    format!("{at}:{width}")
}

fn opt(v: Option<u64>) -> String {
    v.map_or("?".into(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str, offset: u64, size: u64, ty: &str) -> Field {
        Field {
            path: path.into(),
            offset,
            bits: None,
            size: Some(size),
            ty: ty.into(),
        }
    }

    fn l(size: u64, fields: Vec<Field>) -> Layout {
        Layout {
            size: Some(size),
            fields,
            ..Default::default()
        }
    }

    #[test]
    fn equal_layouts_have_no_difference() {
        let a = l(16, vec![f("a", 0, 8, "u64"), f("b", 8, 8, "u64")]);
        assert!(diff(&a, &a.clone()).is_empty());
    }

    #[test]
    fn an_added_field_and_what_it_moves() {
        let vm = l(16, vec![f("a", 0, 8, "u64"), f("b", 8, 8, "u64")]);
        let md = l(
            24,
            vec![
                f("a", 0, 8, "u64"),
                f("new", 8, 8, "u64"),
                f("b", 16, 8, "u64"),
            ],
        );
        assert_eq!(
            diff(&vm, &md),
            [
                "size 16 -> 24",
                "field new added (offset 8, size 8, type u64)",
                "field b (offset 8 -> 16)",
            ]
        );
    }

    #[test]
    fn removed_retyped_and_bit_fields() {
        let mut bf = f("flag", 4, 4, "unsigned int");
        bf.bits = Some((32, 1));
        let vm = l(
            8,
            vec![f("a", 0, 4, "int"), bf.clone(), f("old", 4, 4, "int")],
        );
        let mut bf2 = bf.clone();
        bf2.bits = Some((33, 1));
        let md = l(8, vec![f("a", 0, 4, "u32"), bf2]);
        assert_eq!(
            diff(&vm, &md),
            [
                "field old removed (was offset 4, size 4, type int)",
                "field a (type int -> u32)",
                "field flag (bits 32:1 -> 33:1)",
            ]
        );
    }
}
