// SPDX-License-Identifier: GPL-2.0

//! `bind-data` on tiny "module schedulers" compiled by the test with gcc as
//! the kernel compiles (`-O2 -g -mcmodel=kernel`, relocatable): statics and
//! strings vmlinux has are redirected, an address of the module's own
//! memory that reaches vmlinux is refused, naming how.

use std::collections::BTreeSet;

use super::bind;
use super::test_cases::{
    self,
    bindings,
    compile_with,
    rela_text,
    BASE, //
};
use crate::test_util::{
    run,
    Scratch, //
};

/// Compile `src` as kernel/sched/core.c and return the object's bytes.
fn compile(test: &str, src: &str) -> (Scratch, Vec<u8>) {
    compile_with(
        "bind",
        test,
        src,
        "gcc",
        &["-mcmodel=kernel", "-mno-red-zone"],
    )
}

#[test]
fn statics_and_strings_vmlinux_has_are_redirected() {
    let (dir, bytes, summary) = test_cases::bound_base(compile);
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
    let text = rela_text(&relocs);
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
    test_cases::a_new_lock_of_the_module_is_refused_naming_its_key(compile);
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
    test_cases::what_a_leaking_variable_points_to_leaks_with_it(compile);
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
