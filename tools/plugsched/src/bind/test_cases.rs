// SPDX-License-Identifier: GPL-2.0

//! What the `bind-data` tests of both instruction sets share: the tiny
//! "module scheduler" they compile, what vmlinux has of it, compiling it,
//! and the cases whose outcome is the same on both.

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
    run,
    Scratch, //
};

/// What the module's "core.c" always has: a lock initialised with a
/// function-scope key vmlinux also has (and its name, a string vmlinux
/// has), module state read and written, a module table cleared with
/// memset, a pointer to one module variable kept in another, a module
/// variable updated through a module function it is passed to, and a
/// message printed.
pub const BASE: &str = r#"
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

/// A compiler of `src` as kernel/sched/core.c for one instruction set:
/// its scratch directory (holding `core.o`) and the object's bytes.
pub type Compile = fn(test: &str, src: &str) -> (Scratch, Vec<u8>);

/// Compile `src` as kernel/sched/core.c in a scratch directory of tool
/// `tool`'s test `test`, as the kernel compiles (`-O2 -g`, no PIC, no
/// builtins), with `cc` and its instruction set's `flags`.
pub fn compile_with(
    tool: &str,
    test: &str,
    src: &str,
    cc: &str,
    flags: &[&str],
) -> (Scratch, Vec<u8>) {
    let dir = Scratch::new(tool, test);
    dir.write(&[("kernel/sched/core.c", src)]);
    let mut all = flags.to_vec();
    all.extend([
        "-O2",
        "-g",
        "-fno-pic",
        "-fno-builtin",
        "-fno-asynchronous-unwind-tables",
    ]);
    all.extend(["-c", "kernel/sched/core.c", "-o", "core.o"]);
    run(dir.path(), cc, &all);
    let data = std::fs::read(dir.join("core.o")).unwrap();
    (dir, data)
}

/// [`BASE`] compiled and bound: its scratch directory, the bound object's
/// bytes and the summary, which says one static is vmlinux's.
pub fn bound_base(compile: Compile) -> (Scratch, Vec<u8>, String) {
    let (dir, data) = compile("ok", BASE);
    let (out, summary) = bind(data, &bindings(16), &BTreeSet::new()).unwrap();
    let bytes = out.unwrap_or_else(|e| panic!("{e:?}"));
    assert!(summary.contains("bind-data: 1 statics"), "{summary}");
    (dir, bytes, summary)
}

/// The `.rela.text` section of a `readelf -rW` listing.
pub fn rela_text(relocs: &str) -> &str {
    relocs
        .split("Relocation section '.rela.text'")
        .nth(1)
        .unwrap()
        .split("Relocation section")
        .next()
        .unwrap()
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
pub fn bindings(key_size: u64) -> Bindings {
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

/// A lock with a key of the module's own is refused, naming the key,
/// unless `module_private` lists it.
pub fn a_new_lock_of_the_module_is_refused_naming_its_key(compile: Compile) {
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

/// What a variable whose address leaves points to leaves with it.
pub fn what_a_leaking_variable_points_to_leaks_with_it(compile: Compile) {
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
