// SPDX-License-Identifier: GPL-2.0

//! The layout check on objects compiled by the test with gcc -g: a tiny
//! "vmlinux" (linked, with a unit outside kernel/sched that must be
//! ignored) against "module" objects (relocatable, as Kbuild leaves them)
//! built from changed headers.

use std::collections::BTreeSet;
use std::path::{
    Path,
    PathBuf, //
};

use super::check::{
    self,
    Finding,
    Reason, //
};
use super::*;
use crate::test_util::{
    self,
    write,
    Scratch, //
};

const LINUX_SCHED_H: &str = r#"
typedef unsigned long long u64;
typedef unsigned int u32;
struct load_weight { unsigned long weight; u32 inv_weight; };
struct sched_entity {
	struct load_weight load;
	u64 vruntime;
	unsigned char on_rq;
	unsigned int sched_delayed:1, custom_slice:3;
};
struct task_struct {
	int prio;
	struct sched_entity se;
	union { int a; struct { short b, c; }; };
	struct { int x; } named;
};
"#;

const SCHED_H: &str = r#"
#include "../../include/linux/sched.h"
struct cfs_rq { struct load_weight load; unsigned int nr_running; };
struct rq {
	unsigned int nr_running;
	struct cfs_rq cfs;
	struct task_struct *curr;
	u64 clock;
};
"#;

const CORE_C: &str = r#"
#include "sched.h"
struct rq runqueues;
struct task_struct init_task;
void _start(void) { for (;;) ; }
"#;

/// Outside kernel/sched: a different `struct rq` of the same name.
const OTHER_C: &str = "struct rq { char other[3]; } other_rq;\n";

/// gcc with the options of every object of these tests.
fn gcc(dir: &Path, args: &[&str]) {
    test_util::gcc(dir, &[&["-g", "-O2", "-fno-pie", "-no-pie"], args].concat());
}

/// vmlinux from the original headers; one module object per
/// `kernel/sched/*.c` from the (possibly changed) headers.
fn build(
    test: &str,
    module_sched_h: &str,
    module_linux_h: &str,
) -> (Scratch, PathBuf, Vec<PathBuf>) {
    let d = Scratch::new("layout", test);
    let (v, m) = (d.join("v"), d.join("m"));
    write(
        &v,
        &[
            ("include/linux/sched.h", LINUX_SCHED_H),
            ("kernel/sched/sched.h", SCHED_H),
            ("kernel/sched/core.c", CORE_C),
            ("other.c", OTHER_C),
        ],
    );
    gcc(
        &v,
        &[
            "-nostdlib",
            "-o",
            "vmlinux",
            "kernel/sched/core.c",
            "other.c",
        ],
    );
    write(
        &m,
        &[
            ("include/linux/sched.h", module_linux_h),
            ("kernel/sched/sched.h", module_sched_h),
            ("kernel/sched/core.c", CORE_C),
            (
                "kernel/sched/fair.c",
                "#include \"sched.h\"\nstruct rq *fair_rq;\n",
            ),
        ],
    );
    gcc(&m, &["-c", "kernel/sched/core.c", "-o", "core.o"]);
    gcc(&m, &["-c", "kernel/sched/fair.c", "-o", "fair.o"]);
    let objs = vec![m.join("core.o"), m.join("fair.o")];
    (d, v.join("vmlinux"), objs)
}

fn listed() -> BTreeSet<String> {
    ["task_struct", "sched_entity"]
        .iter()
        .map(|t| check::type_key(t))
        .collect()
}

/// The whole check, as `run` does it.
fn findings(vmlinux: &Path, objects: &[PathBuf]) -> Vec<Finding> {
    let module = module_side(objects).unwrap();
    let sel = check::select(&module, &listed(), &["kernel/sched/sched.h".into()]);
    let vm = vmlinux_side(vmlinux, &|n| sel.contains_key(n)).unwrap();
    check::check(&module, &vm, &sel, check::Coverage::Whole)
}

#[test]
fn identical_sources_agree() {
    let (_d, v, m) = build("same", SCHED_H, LINUX_SCHED_H);
    let module = module_side(&m).unwrap();
    let sel = check::select(&module, &listed(), &["kernel/sched/sched.h".into()]);
    // rq and cfs_rq from the header, load_weight held by value in them.
    for t in [
        "struct rq",
        "struct cfs_rq",
        "struct load_weight",
        "struct task_struct",
    ] {
        assert!(sel.contains_key(t), "{t} not selected: {sel:?}");
    }
    let f = findings(&v, &m);
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn a_field_added_to_rq_is_named_with_what_it_moves() {
    let changed = SCHED_H.replace("\tu64 clock;", "\tu64 plugsched_new;\n\tu64 clock;");
    let (_d, v, m) = build("rq", &changed, LINUX_SCHED_H);
    let f = findings(&v, &m);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].name, "struct rq");
    assert_eq!(f[0].reason, Reason::Header);
    assert!(f[0].file.ends_with("kernel/sched/sched.h"), "{}", f[0].file);
    assert_eq!(
        f[0].lines,
        [
            "size 48 -> 56",
            "field plugsched_new added (offset 40, size 8, type u64)",
            "field clock (offset 40 -> 48)",
        ]
    );
    let r = report(&f);
    assert!(
        r.starts_with(
            "layout-check: sched-changes alter struct rq, shared with vmlinux (kernel/sched/sched.h, defined in an in-boundary header):\n    size 48 -> 56\n"
        ),
        "{r}"
    );
    assert!(
        r.contains("put new state in a module-private variable instead"),
        "{r}"
    );
}

#[test]
fn a_retyped_field_of_a_listed_type_and_its_embedders() {
    let changed = LINUX_SCHED_H.replace("\tu64 vruntime;", "\tu32 vruntime;");
    let (_d, v, m) = build("se", SCHED_H, &changed);
    let f = findings(&v, &m);
    let se = f
        .iter()
        .find(|f| f.name == "struct sched_entity")
        .expect("sched_entity");
    assert_eq!(se.reason, Reason::Listed);
    assert!(
        se.lines
            .contains(&"field vruntime (size 8 -> 4, type u64 -> u32)".to_string()),
        "{:?}",
        se.lines
    );
    assert!(
        se.lines
            .contains(&"field on_rq (offset 24 -> 20)".to_string()),
        "{:?}",
        se.lines
    );
    // task_struct holds it by value: its later members move too.
    let ts = f
        .iter()
        .find(|f| f.name == "struct task_struct")
        .expect("task_struct");
    assert!(
        ts.lines.iter().any(|l| l.starts_with("field a (offset")),
        "{:?}",
        ts.lines
    );
}

#[test]
fn anonymous_members_and_bit_fields_are_compared() {
    let changed = LINUX_SCHED_H
        .replace("struct { short b, c; };", "struct { short c, b; };")
        .replace(
            "sched_delayed:1, custom_slice:3",
            "sched_delayed:2, custom_slice:2",
        )
        .replace("struct { int x; } named;", "struct { long x; } named;");
    let (_d, v, m) = build("anon", SCHED_H, &changed);
    let f = findings(&v, &m);
    let lines = |n: &str| {
        f.iter()
            .find(|f| f.name == n)
            .map(|f| f.lines.clone())
            .unwrap_or_default()
    };
    let ts = lines("struct task_struct");
    assert!(
        ts.iter().any(|l| l.starts_with("field b (offset")),
        "{ts:?}"
    );
    assert!(ts.iter().any(|l| l.starts_with("field named.x (offset") || l.starts_with("field named.x (size")), "{ts:?}");
    let se = lines("struct sched_entity");
    assert!(
        se.iter()
            .any(|l| l.starts_with("field sched_delayed (bits")),
        "{se:?}"
    );
    assert!(
        se.iter().any(|l| l.starts_with("field custom_slice (bits")),
        "{se:?}"
    );
}

#[test]
fn module_units_that_disagree_are_refused() {
    let d = Scratch::new("layout", "units");
    d.write(&[
        ("include/linux/sched.h", LINUX_SCHED_H),
        ("kernel/sched/sched.h", SCHED_H),
        ("kernel/sched/core.c", CORE_C),
        (
            "kernel/sched/fair.c",
            "#define clock clock; int fair_extra\n#include \"sched.h\"\nstruct rq *fair_rq;\n",
        ),
    ]);
    gcc(
        d.path(),
        &["-nostdlib", "-o", "vmlinux", "kernel/sched/core.c"],
    );
    gcc(d.path(), &["-c", "kernel/sched/core.c", "-o", "core.o"]);
    gcc(d.path(), &["-c", "kernel/sched/fair.c", "-o", "fair.o"]);
    let f = findings(&d.join("vmlinux"), &[d.join("core.o"), d.join("fair.o")]);
    let rq = f.iter().find(|f| f.name == "struct rq").expect("rq");
    assert!(
        rq.lines[0].starts_with("the module's objects: defined differently in kernel/sched/core.c and kernel/sched/fair.c"),
        "{:?}",
        rq.lines
    );
}

#[test]
fn only_kernel_sched_units_are_vmlinux_s_scheduler() {
    assert!(is_sched_unit("kernel/sched/core.c"));
    assert!(is_sched_unit("/src/linux/kernel/sched/build_policy.c"));
    assert!(!is_sched_unit("kernel/sched/sched.h"));
    assert!(!is_sched_unit("kernel/time/sched_clock.c"));
    assert!(!is_sched_unit("tools/sched/x.c"));
}

#[test]
fn paths_are_shown_from_the_source_tree_on() {
    assert_eq!(
        short_path("/w/build/sched-src/test/kernel/sched/sched.h"),
        "kernel/sched/sched.h"
    );
    assert_eq!(
        short_path("var/cache/src/linux/include/linux/sched.h"),
        "include/linux/sched.h"
    );
    assert_eq!(short_path("kernel/sched/sched.h"), "kernel/sched/sched.h");
    assert_eq!(short_path("x.h"), "x.h");
}
