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
    CORE, //
};
use super::testelf;
use super::*;

const OTHER: &str = r#"
struct ops { void (*tick)(int); };
extern const struct ops fair_ops;
void helper2(int x);
void schedule(int x);
long __x64_sys_sched_yield(int x);
__attribute__((noinline)) void outsider(int x) { helper2(x); }
struct lock_class_key;
void lock_init(void *l, const char *name, struct lock_class_key *key) { asm volatile("" :: "r"(l), "r"(name), "r"(key)); }
void init_lock(void *l);
__attribute__((noinline)) void asm_taken(int x) { asm volatile("" :: "r"(x)); }
/* Assembly code under a symbol of no type, as SYM_CODE_START makes. */
asm(".text\n.globl entry_asm\nentry_asm:\n\tadrp x0, asm_taken\n\tadd x0, x0, :lo12:asm_taken\n\tbr x0\n"
    ".size entry_asm, .-entry_asm\n");
static long a_lock;
const struct ops *const used_ops = &fair_ops;
void entry(void) {
    init_lock(&a_lock);
    schedule(1);
    outsider(2);
    fair_ops.tick(3);
    __x64_sys_sched_yield(4);
    for (;;) ;
}
"#;

fn graph(dir: &Path, relocs: bool, force: bool) -> (Graph, RefSource) {
    let out = if relocs {
        "vmlinux.unstripped"
    } else {
        "vmlinux"
    };
    let sources = [("kernel/sched/core.c", CORE), ("other.c", OTHER)];
    let vml = testelf::link_arm64(dir, &sources, out, relocs);
    read_graph(&vml, dir, force, &|_| {}).unwrap()
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
