// SPDX-License-Identifier: GPL-2.0

//! End to end on a tiny synthetic "kernel" compiled and linked by the test
//! with the same kind of toolchain (gcc -O2 -g), read with its relocations
//! (`ld --emit-relocs`, as `vmlinux.unstripped`) and without them.

use super::testelf;
use super::*;
use crate::boundary::algo::{
    classify,
    Class,
    Classification,
    DataClass,
    FuncId,
    VarKind, //
};
use crate::boundary::config;

pub(super) const CORE: &str = r#"
#define NI __attribute__((noinline, noclone))
struct ops { void (*tick)(int); };
void helper2(int x);
static NI int pick(int x) { return x * 3; }
NI void schedule(int x) { helper2(pick(x)); }
static int state_counter;
static const int weights[4] = { 1, 2, 3, 4 };
static NI void bump(int i) { state_counter += weights[i & 3]; }
NI void task_tick(int x) { bump(pick(x + 1)); }
const struct ops fair_ops = { .tick = task_tick };
NI long __x64_sys_sched_yield(int x) { schedule(x); return 0; }
static inline int inlined_only(int x) { return x + 40; }
NI void helper2(int x) { asm volatile("" :: "r"(inlined_only(x))); }
struct lock_class_key { char k[16]; };
void lock_init(void *l, const char *name, struct lock_class_key *key);
NI void init_lock(void *l) { static struct lock_class_key __key; lock_init(l, "&l->lock", &__key); }
static char sched_flag;
NI int flag_set(void) { return sched_flag != 0; }
NI void flag_raise(void) { sched_flag = 1; }
"#;

/// The rest of the synthetic kernel: its `ENTRY_ASM` is an instruction
/// set's assembly taking `asm_taken`'s address ([`X86_ENTRY_ASM`]).
pub(super) const OTHER: &str = r#"
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
ENTRY_ASM
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

const X86_ENTRY_ASM: &str = r#"asm(".text\n.globl entry_asm\nentry_asm:\n\tleaq asm_taken(%rip), %rax\n\tjmp *%rax\n"
    ".size entry_asm, .-entry_asm\n");"#;

/// A linker of the synthetic kernel for one instruction set
/// ([`testelf::link`], [`testelf::link_arm64`]).
pub(super) type Link = fn(&Path, &[(&str, &str)], &str, bool) -> std::path::PathBuf;

/// The synthetic kernel's graph, its assembly `entry_asm` linked by
/// `link` (`relocs`: with them; `force`: read relocation-free anyway),
/// with where its references came from.
pub(super) fn graph_with(
    link: Link,
    entry_asm: &str,
    dir: &Path,
    relocs: bool,
    force: bool,
) -> (Graph, RefSource) {
    let out = if relocs {
        "vmlinux.unstripped"
    } else {
        "vmlinux"
    };
    let other = OTHER.replace("ENTRY_ASM", entry_asm);
    let vml = link(
        dir,
        &[("kernel/sched/core.c", CORE), ("other.c", &other)],
        out,
        relocs,
    );
    read_graph(&vml, dir, force, &|_| {}).unwrap()
}

/// The x86_64 synthetic kernel's graph ([`graph_with`]).
fn graph(dir: &Path, relocs: bool, force: bool) -> (Graph, RefSource) {
    graph_with(testelf::link, X86_ENTRY_ASM, dir, relocs, force)
}

pub(super) fn id(g: &Graph, n: &str) -> FuncId {
    g.funcs
        .iter()
        .position(|f| f.name == n)
        .unwrap_or_else(|| panic!("{n}"))
}

/// A variable by name: gcc names a static of a function `n.N`, clang
/// `function.n`.
pub(super) fn var(g: &Graph, n: &str) -> usize {
    g.vars
        .iter()
        .position(|v| {
            v.name == n
                || v.name.starts_with(&format!("{n}."))
                || v.name.ends_with(&format!(".{n}"))
        })
        .unwrap_or_else(|| panic!("{n}"))
}

fn classification(g: &Graph) -> Classification {
    let b = config::parse(
        "files = [\"kernel/sched/core.c\"]\n\
         interface_prefixes = [\"__x64_sys_\"]\n\
         interfaces = [\"schedule\"]\n",
        crate::arch::Arch::X86_64,
    )
    .unwrap();
    classify(g, &b)
}

/// What the graph of the synthetic kernel must say, however it was read.
pub(super) fn check(g: &Graph) {
    let id = |n: &str| id(g, n);
    let var = |n: &str| var(g, n);
    assert_eq!(g.funcs[id("pick")].file, "kernel/sched/core.c");
    assert_eq!(g.funcs[id("outsider")].file, "other.c");
    assert!(
        g.calls.contains(&(id("schedule"), id("pick"))),
        "static call"
    );
    assert!(g.calls.contains(&(id("outsider"), id("helper2"))));
    assert!(g.address_taken.contains(&id("task_tick")));
    assert!(!g.address_taken.contains(&id("pick")));
    assert!(
        g.address_taken.contains(&id("asm_taken")),
        "by assembly code"
    );
    assert!(g
        .inlined
        .iter()
        .any(|i| i.name == "inlined_only" && i.into == id("helper2")));

    // Variables: where the source declares them, their kind, and
    // whether code takes their address or only reads and writes them.
    let key = &g.vars[var("__key")];
    assert_eq!(
        (
            key.decl.unit.as_str(),
            key.decl.scope.as_str(),
            key.decl.name.as_str()
        ),
        ("kernel/sched/core.c", "init_lock", "__key")
    );
    assert_eq!(key.kind, VarKind::State);
    assert_eq!(g.vars[var("weights")].kind, VarKind::Const);
    assert_eq!(g.vars[var("state_counter")].decl.scope, "");
    assert!(g.var_addr_taken.contains(&(id("init_lock"), var("__key"))));
    assert!(g.var_refs.contains(&(id("bump"), var("state_counter"))));
    assert!(g.var_refs.contains(&(id("bump"), var("weights"))));
    assert!(!g
        .var_addr_taken
        .contains(&(id("bump"), var("state_counter"))));
    assert!(!g.var_addr_taken.contains(&(id("bump"), var("weights"))));
    assert!(
        g.const_refs.iter().any(|&(f, _)| f == id("init_lock")),
        "the lock's name is taken by init_lock"
    );
    assert!(g.data_referenced.contains(&var("fair_ops")));
    // (cmpb $0, sched_flag(%rip): an immediate after the displacement.)
    assert!(g.var_refs.contains(&(id("flag_set"), var("sched_flag"))));

    let c = classification(g);
    let class = |n: &str| c.class[&id(n)];
    assert_eq!(class("schedule"), Class::Interface);
    assert_eq!(class("__x64_sys_sched_yield"), Class::Interface);
    assert_eq!(class("task_tick"), Class::Callback);
    assert_eq!(class("pick"), Class::Internal);
    assert_eq!(class("helper2"), Class::External);
    assert!(!c.class.contains_key(&id("outsider")));
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    // The key (address taken) and the counter (state) are vmlinux's;
    // the constant table the module only reads is its own.
    assert_eq!(c.data[&var("__key")], DataClass::Shared);
    assert_eq!(c.data[&var("state_counter")], DataClass::Shared);
    assert_eq!(c.data[&var("weights")], DataClass::Private);
}

/// Every function's and variable's class, by name.
pub(super) fn classes(g: &Graph) -> Vec<(String, String)> {
    let c = classification(g);
    let mut out: Vec<(String, String)> = c
        .class
        .iter()
        .map(|(&f, k)| (g.funcs[f].name.clone(), format!("{k:?}")))
        .chain(
            c.data
                .iter()
                .map(|(&v, k)| (g.vars[v].name.clone(), format!("{k:?}"))),
        )
        .collect();
    out.sort();
    out
}

#[test]
fn synthetic_kernel_with_relocations() {
    let dir = testelf::dir("e2e-relocs");
    let (g, refs) = graph(&dir, true, false);
    assert_eq!(refs, RefSource::Relocations);
    check(&g);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn synthetic_kernel_without_relocations() {
    let dir = testelf::dir("e2e-norelocs");
    let (g, refs) = graph(&dir, false, false);
    assert_eq!(
        refs,
        RefSource::Bytes,
        "no relocations: read relocation-free"
    );
    check(&g);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same linked file read both ways gives the same facts and classes.
#[test]
fn both_ways_agree() {
    let dir = testelf::dir("e2e-both");
    let (r, _) = graph(&dir, true, false);
    let (b, refs) = graph(&dir, true, true);
    assert_eq!(refs, RefSource::Bytes);
    check(&b);
    assert_eq!(r.address_taken, b.address_taken);
    assert_eq!(r.data_referenced, b.data_referenced);
    assert_eq!(r.var_refs, b.var_refs);
    assert_eq!(classes(&r), classes(&b));
    let _ = std::fs::remove_dir_all(&dir);
}
