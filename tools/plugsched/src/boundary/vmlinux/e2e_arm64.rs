// SPDX-License-Identifier: GPL-2.0

//! [`super::e2e`] on arm64: the same synthetic "kernel" compiled by clang
//! for arm64 as the arm64 kernel is (`-fno-PIE`: no GOT) and linked by
//! ld.lld as its vmlinux is (PIE, pointers in `.rela.dyn`), read relocation-free (the code's `adrp` pairs, the
//! dynamic relocations) and, linked with `--emit-relocs`, with its
//! relocations: the same facts and classes both ways, and the ones the
//! x86 kernel gives.

use super::e2e::{
    check,
    classes,
    graph_with, //
};
use super::testelf;
use super::*;

const ARM64_ENTRY_ASM: &str = r#"asm(".text\n.globl entry_asm\nentry_asm:\n\tadrp x0, asm_taken\n\tadd x0, x0, :lo12:asm_taken\n\tbr x0\n"
    ".size entry_asm, .-entry_asm\n");"#;

/// The arm64 synthetic kernel's graph ([`graph_with`]).
fn graph(dir: &Path, relocs: bool, force: bool) -> (Graph, RefSource) {
    graph_with(testelf::link_arm64, ARM64_ENTRY_ASM, dir, relocs, force)
}

#[test]
fn arm64_kernel_without_relocations() {
    let dir = testelf::dir("e2e-arm64");
    let (g, refs) = graph(&dir, false, false);
    assert_eq!(refs, RefSource::Bytes);
    check(&g);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn arm64_both_ways_agree() {
    let dir = testelf::dir("e2e-arm64-both");
    let (r, refs) = graph(&dir, true, false);
    assert_eq!(refs, RefSource::Relocations);
    check(&r);
    let (b, _) = graph(&dir, true, true);
    check(&b);
    assert_eq!(r.address_taken, b.address_taken);
    assert_eq!(r.data_referenced, b.data_referenced);
    let names = |g: &Graph| -> Vec<(String, String)> {
        let mut v: Vec<_> = g
            .var_refs
            .iter()
            .map(|&(f, x)| (g.funcs[f].name.clone(), g.vars[x].name.clone()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&r), names(&b));
    assert_eq!(classes(&r), classes(&b));
    let _ = std::fs::remove_dir_all(&dir);
}
