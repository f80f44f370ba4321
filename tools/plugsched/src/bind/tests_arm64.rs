// SPDX-License-Identifier: GPL-2.0

//! `bind-data` on the same tiny "module schedulers" as `tests.rs`,
//! compiled for arm64 by clang as the arm64 kernel is built (`-O2 -g`,
//! relocatable): the same statics are bound, the same addresses are
//! followed, the same leaks refused.

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

/// Compile `src` as kernel/sched/core.c for arm64.
fn compile(test: &str, src: &str) -> (Scratch, Vec<u8>) {
    compile_with(
        "bind-arm64",
        test,
        src,
        "clang",
        &["--target=aarch64-linux-gnu"],
    )
}

#[test]
fn statics_and_strings_vmlinux_has_are_redirected() {
    let (dir, bytes, summary) = test_cases::bound_base(compile);
    // (clang folds keep() and peek() into a load of thing, and inlines
    // add_to: the key's, table's, the lock name's and the message's
    // addresses are taken.)
    assert!(summary.contains("4 addresses taken, none"), "{summary}");
    // (Each address is an `adrp` + `add`: two relocations.)
    assert!(
        summary.contains("2 references to them and 2 to vmlinux's string literals"),
        "{summary}"
    );
    std::fs::write(dir.join("bound.o"), bytes).unwrap();
    // Both halves of each `adrp` + `add` now name vmlinux's.
    let relocs = run(dir.path(), "llvm-readelf", &["-rW", "bound.o"]);
    let text = rela_text(&relocs);
    let key: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("__plugsched_vmlinux___key.9,2"))
        .collect();
    assert_eq!(key.len(), 2, "{relocs}");
    assert!(
        key.iter().any(|l| l.contains("R_AARCH64_ADR_PREL_PG_HI21")),
        "{relocs}"
    );
    assert!(
        key.iter().any(|l| l.contains("R_AARCH64_ADD_ABS_LO12_NC")),
        "{relocs}"
    );
    let name: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("__plugsched_vmlinux_some_table,0"))
        .collect();
    assert_eq!(name.len(), 2, "{relocs}");
    assert!(
        name.iter().all(|l| l.trim_end().ends_with("+ 10")),
        "{name:?}"
    );
    assert!(!relocs.contains("vmlinux_counter"), "{relocs}");
}

#[test]
fn a_new_lock_of_the_module_is_refused_naming_its_key() {
    test_cases::a_new_lock_of_the_module_is_refused_naming_its_key(compile);
}

#[test]
fn what_a_leaking_variable_points_to_leaks_with_it() {
    test_cases::what_a_leaking_variable_points_to_leaks_with_it(compile);
}

#[test]
fn stored_in_vmlinux_memory_or_pushed_leaves() {
    // An address stored through a pointer vmlinux gave: it leaves.
    let src = format!(
        "{BASE}\nextern void **vm_slot;\n__attribute__((noinline)) void give(void) {{ *vm_slot = &thing; }}\n"
    );
    let (_dir, data) = compile("store", &src);
    let errors = bind(data, &bindings(16), &BTreeSet::new())
        .unwrap()
        .0
        .expect_err("refused");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("thing") && e.contains("stored to memory at give+")),
        "{errors:?}"
    );
}
