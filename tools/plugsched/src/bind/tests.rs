// SPDX-License-Identifier: GPL-2.0

//! `bind-data` on tiny "module schedulers" compiled by the test with gcc as
//! the kernel compiles (`-O2 -g -mcmodel=kernel`, relocatable): statics and
//! strings vmlinux has are redirected, an address of the module's own
//! memory that reaches vmlinux is refused, naming how.

use std::collections::BTreeSet;

use super::bind;
use crate::boundary::bindings::{
    hex,
    Bindings,
    StaticBinding,
    StringBinding, //
};
use crate::boundary::statics::StaticKey;
use crate::test_util::{
    gcc,
    run,
    Scratch, //
};

/// What the module's "core.c" always has: a lock initialised with a
/// function-scope key vmlinux also has (and its name, a string vmlinux
/// has), module state read and written, a module table cleared with
/// memset, a pointer to one module variable kept in another, a module
/// variable updated through a module function it is passed to, and a
/// message printed.
pub(super) const BASE: &str = r#"
struct lock_class_key { char k[16]; };
struct obj { void *lock; int x; };
extern void __raw_spin_lock_init(void *lock, const char *name, struct lock_class_key *key);
extern void *memset(void *p, int c, unsigned long n);
extern void register_thing(void *p);
static int counter;
static long table[8];
static void *saved;
static int thing;
__attribute__((noinline)) void init_thing(struct obj *o)
{
	static struct lock_class_key __key;
	__raw_spin_lock_init(&o->lock, "&o->lock", &__key);
}
__attribute__((noinline)) void tick(void) { counter++; }
__attribute__((noinline)) void clear(void) { memset(table, 0, sizeof(table)); }
__attribute__((noinline)) void keep(void) { saved = &thing; }
__attribute__((noinline)) int peek(void) { return *(volatile int *)saved; }
struct pair { long a, b; };
static struct pair pair;
static __attribute__((noipa)) void add_to(struct pair *p, long x) { p->a += x; p->b -= x; }
__attribute__((noinline)) void bump_pair(long x) { add_to(&pair, x); }
extern int _printk(const char *fmt, ...);
__attribute__((noinline)) void say(void) { _printk("hello\n"); }
"#;

/// Compile `src` as kernel/sched/core.c and return the object's bytes.
fn compile(test: &str, src: &str) -> (Scratch, Vec<u8>) {
    let dir = Scratch::new("bind", test);
    dir.write(&[("kernel/sched/core.c", src)]);
    gcc(
        dir.path(),
        &[
            "-O2",
            "-g",
            "-fno-pic",
            "-mcmodel=kernel",
            "-mno-red-zone",
            "-fno-builtin",
            "-fno-asynchronous-unwind-tables",
            "-c",
            "kernel/sched/core.c",
            "-o",
            "core.o",
        ],
    );
    let data = std::fs::read(dir.join("core.o")).unwrap();
    (dir, data)
}

fn key(scope: &str, name: &str) -> StaticKey {
    StaticKey {
        unit: "kernel/sched/core.c".into(),
        scope: scope.into(),
        name: name.into(),
        ordinal: 0,
    }
}

/// vmlinux has init_thing's `__key` (shared) as `__key.9` (2nd of that
/// name), `counter` as a private static, and the strings "&o->lock" 0x10
/// bytes after `some_table` and "hello\n" 0x20 after it.
pub(super) fn bindings(key_size: u64) -> Bindings {
    Bindings {
        statics: vec![
            StaticBinding {
                key: key("init_thing", "__key"),
                symbol: "__key.9".into(),
                sympos: 2,
                size: key_size,
                class: "shared".into(),
                kind: "state".into(),
                hash: None,
            },
            StaticBinding {
                key: key("", "counter"),
                symbol: "counter".into(),
                sympos: 0,
                size: 4,
                class: "private".into(),
                kind: "state".into(),
                hash: None,
            },
        ],
        strings: vec![
            StringBinding {
                hex: hex(b"&o->lock"),
                anchor: "some_table".into(),
                sympos: 0,
                offset: 0x10,
            },
            StringBinding {
                hex: hex(b"hello\n"),
                anchor: "some_table".into(),
                sympos: 0,
                offset: 0x20,
            },
        ],
        module_private: Vec::new(),
    }
}

#[test]
fn statics_and_strings_vmlinux_has_are_redirected() {
    let (dir, data) = compile("ok", BASE);
    let (out, summary) = bind(data, &bindings(16), &BTreeSet::new()).unwrap();
    let bytes = out.unwrap_or_else(|e| panic!("{e:?}"));
    assert!(summary.contains("bind-data: 1 statics"), "{summary}");
    // The key's, table's, thing's, pair's, the lock name's and the
    // message's addresses are taken; the key and the name leave (to
    // vmlinux's), the message only to _printk, which keeps nothing.
    assert!(summary.contains("6 addresses taken, none"), "{summary}");
    assert!(
        summary.contains("and 1 to vmlinux's string literals"),
        "{summary}"
    );
    std::fs::write(dir.join("bound.o"), bytes).unwrap();
    // binutils reads the result: init_thing's key and its name are
    // vmlinux's, each through one undefined symbol.
    let relocs = run(dir.path(), "readelf", &["-rW", "bound.o"]);
    let text = relocs
        .split("Relocation section '.rela.text'")
        .nth(1)
        .unwrap()
        .split("Relocation section")
        .next()
        .unwrap();
    let key_line = text
        .lines()
        .find(|l| l.contains("__plugsched_vmlinux___key.9,2"))
        .unwrap_or_else(|| panic!("{relocs}"));
    assert!(key_line.contains("R_X86_64_32S"), "{key_line}");
    assert!(key_line.trim_end().ends_with("+ 0"), "{key_line}");
    let name_line = text
        .lines()
        .find(|l| l.contains("__plugsched_vmlinux_some_table,0"))
        .unwrap_or_else(|| panic!("{relocs}"));
    assert!(name_line.trim_end().ends_with("+ 10"), "{name_line}");
    let syms = run(dir.path(), "readelf", &["-sW", "bound.o"]);
    for s in [
        "__plugsched_vmlinux___key.9,2",
        "__plugsched_vmlinux_some_table,0",
    ] {
        let line = syms.lines().find(|l| l.ends_with(s)).unwrap();
        assert!(line.contains("GLOBAL") && line.contains(" UND "), "{line}");
    }
    // counter is the module's own (private): untouched.
    assert!(!relocs.contains("vmlinux_counter"), "{relocs}");
}

#[test]
fn a_new_lock_of_the_module_is_refused_naming_its_key() {
    let src = format!(
        "{BASE}\nstatic struct lock_class_key new_key;\n\
         __attribute__((noinline)) void new_lock(struct obj *o) {{ __raw_spin_lock_init(&o->lock, \"new\", &new_key); }}\n"
    );
    let (_dir, data) = compile("lock", &src);
    let (out, _) = bind(data.clone(), &bindings(16), &BTreeSet::new()).unwrap();
    let errors = out.expect_err("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("new_key (kernel/sched/core.c): the module's own, and its address leaves the module's scheduler: passed to __raw_spin_lock_init by new_lock;"),
        "{}",
        errors[0]
    );
    // Listed under module_private: accepted.
    let allowed: BTreeSet<String> = ["new_key".to_string()].into();
    assert!(bind(data, &bindings(16), &allowed).unwrap().0.is_ok());
}

#[test]
fn a_new_empty_lock_key_is_not_refused() {
    // Without lockdep, struct lock_class_key is empty: nothing to outlive.
    // (In a section of its own: an empty object may share the address of
    // the next one, and a reference to that address counts as the next.)
    let src = format!(
        "{BASE}\nstruct empty_key {{ }};\nstatic struct empty_key new_key __attribute__((section(\".bss.empty\")));\n\
         __attribute__((noinline)) void new_lock(struct obj *o) {{ __raw_spin_lock_init(&o->lock, \"new\", (void *)&new_key); }}\n"
    );
    let (_dir, data) = compile("emptykey", &src);
    let (out, _) = bind(data, &bindings(16), &BTreeSet::new()).unwrap();
    assert!(out.is_ok(), "{:?}", out.err());
}

#[test]
fn what_a_leaking_variable_points_to_leaks_with_it() {
    // keep() stores &thing in saved; publish() hands &saved to vmlinux.
    let src = format!(
        "{BASE}\n__attribute__((noinline)) void publish(void) {{ register_thing(&saved); }}\n"
    );
    let (_dir, data) = compile("holder", &src);
    let errors = bind(data, &bindings(16), &BTreeSet::new())
        .unwrap()
        .0
        .expect_err("refused");
    let mut got: Vec<&str> = errors
        .iter()
        .map(|e| e.split(':').next().unwrap())
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec!["saved (kernel/sched/core.c)", "thing (kernel/sched/core.c)"]
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("passed to register_thing by publish")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("its address is in saved, whose address leaves")),
        "{errors:?}"
    );
}

#[test]
fn a_shared_static_of_another_size_is_refused() {
    let (_dir, data) = compile("size", BASE);
    let errors = bind(data, &bindings(24), &BTreeSet::new())
        .unwrap()
        .0
        .expect_err("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("__key of init_thing (kernel/sched/core.c) is vmlinux's __key.9 (24 bytes), but the module's scheduler makes it 16 bytes"),
        "{}",
        errors[0]
    );
}
