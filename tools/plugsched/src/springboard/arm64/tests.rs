// SPDX-License-Identifier: GPL-2.0

//! A trimmed copy of the arm64 test kernel's `__schedule` (clang-19,
//! pac-ret, BTI, per-task stack protector): its prologue, the two values
//! the tail reads from callee-saved registers (`current` in x24,
//! `&__cpu_online_mask` in x25), the call, the tail and the epilogue.

use super::*;
use crate::arch::arm64::tests::bytes;

const BASE: u64 = 0x2_0000;

/// `b.ne` from index `from` to index `to`.
fn bne(from: usize, to: usize) -> u32 {
    0x5400_0001 | ((((to as i64 - from as i64) as u32) & 0x7_ffff) << 5)
}

/// `bl` from index `from` to `to` (relative to BASE).
fn bl(from: usize, to: u64) -> u32 {
    0x9400_0000 | (((to.wrapping_sub(BASE + 4 * from as u64) as u32) >> 2) & 0x3ff_ffff)
}

const SWITCH_TO: u64 = BASE + 0x1000;
const FINISH: u64 = BASE + 0x2000;
const CHK_FAIL: u64 = BASE + 0x3000;
const CALL: usize = 20;

/// The function; `tail_extra` is put right after the call.
fn schedule(tail_extra: &[u32]) -> Vec<u32> {
    let mut w = vec![
        0xd503233f, // paciasp
        0xd10303ff, // sub sp, sp, #0xc0
        0xa9067bfd, // stp x29, x30, [sp, #0x60]
        0xa9076ffc, // stp x28, x27, [sp, #0x70]
        0xa90867fa, // stp x26, x25, [sp, #0x80]
        0xa9095ff8, // stp x24, x23, [sp, #0x90]
        0xa90a57f6, // stp x22, x21, [sp, #0xa0]
        0xa90b4ff4, // stp x20, x19, [sp, #0xb0]
        0x910183fd, // add x29, sp, #0x60
        0xd5384108, // mrs x8, sp_el0
        0x2a0003f5, // mov w21, w0
        0xf943bd08, // ldr x8, [x8, #0x778]
        0xf81f83a8, // stur x8, [x29, #-0x8]
        0xd5384118, // mrs x24, sp_el0
        0xf9400513, // ldr x19, [x8, #8]
        0xf9400916, // ldr x22, [x8, #16]
        0xb0000019, // adrp x25, +0x1000
        0x9100a339, // add x25, x25, #0x28
        0xaa1303e0, // mov x0, x19
        0xaa1603e1, // mov x1, x22
        bl(CALL, SWITCH_TO),
        bl(CALL + 1, FINISH),
    ];
    w.extend_from_slice(tail_extra);
    let rest = [
        0xb9401308, // ldr w8, [x24, #0x10]
        0xd343fd09, // lsr x9, x8, #3
        0xf8696b29, // ldr x9, [x25, x9]
        0xd5384108, // mrs x8, sp_el0
        0xf943bd08, // ldr x8, [x8, #0x778]
        0xf85f83a9, // ldur x9, [x29, #-0x8]
        0xeb09011f, // cmp x8, x9
    ];
    w.extend_from_slice(&rest);
    let b = w.len();
    w.extend_from_slice(&[
        0,          // b.ne to the __stack_chk_fail call
        0xa94b4ff4, // ldp x20, x19, [sp, #0xb0]
        0xa94a57f6, // ldp x22, x21, [sp, #0xa0]
        0xa9495ff8, // ldp x24, x23, [sp, #0x90]
        0xa94867fa, // ldp x26, x25, [sp, #0x80]
        0xa9476ffc, // ldp x28, x27, [sp, #0x70]
        0xa9467bfd, // ldp x29, x30, [sp, #0x60]
        0x910303ff, // add sp, sp, #0xc0
        0xd50323bf, // autiasp
        0xd65f03c0, // ret
    ]);
    let fail = w.len();
    w[b] = bne(b, fail);
    w.push(bl(fail, CHK_FAIL));
    w
}

fn context() -> Context {
    Context {
        switch_to: SWITCH_TO,
        noreturn: [CHK_FAIL].into(),
        jump_labels: HashMap::new(),
        symbols: vec![(BASE + 0x1020, 0x10, "__cpu_online_mask".into())],
    }
}

#[test]
fn derives_the_test_kernels_split() {
    let f = derive(&bytes(&schedule(&[])), BASE, &context()).unwrap();
    assert_eq!(f.offset, 4 * CALL as u64);
    assert_eq!(
        (f.sp_below_fp, f.prologue.fp_below_entry, f.prologue.frame),
        (0x60, 0x60, 0xc0)
    );
    assert!(f.prologue.pac);
    assert_eq!(f.prologue.canary, Some((-8, 0x778)));
    assert_eq!(f.prologue.saves.len(), 12);
    assert!(f.prologue.saves.contains(&(19, 0x58)) && f.prologue.saves.contains(&(30, 8)));
    assert_eq!(
        f.live_in,
        vec![
            (24, Value::Current),
            (25, Value::Address("__cpu_online_mask".into(), 8)),
        ]
    );
    let h = header(&f);
    assert!(
        h.contains("#define PLUGSCHED_SPRINGBOARD_OFFSET 0x50"),
        "{h}"
    );
    assert!(h.contains("#define PLUGSCHED_SPRINGBOARD_SP 0x60"), "{h}");
    assert!(h.contains("mrs x24, sp_el0"), "{h}");
    assert!(
        h.contains("adrp x25, __plugsched_vmlinux___cpu_online_mask+0x8"),
        "{h}"
    );
}

#[test]
fn prev_and_next_are_the_springboards_arguments() {
    // cmp x19, x22: is_switch of the sched_exit tracepoint (clang keeps
    // prev and next in x19 and x22 across the switch).
    let f = derive(&bytes(&schedule(&[0xeb16027f])), BASE, &context()).unwrap();
    assert!(f.live_in.contains(&(19, Value::Prev)), "{:?}", f.live_in);
    assert!(f.live_in.contains(&(22, Value::Next)), "{:?}", f.live_in);
    assert!(
        header(&f).contains("mov x19, x0\\n\\tmov x22, x1"),
        "{}",
        header(&f)
    );
}

#[test]
fn refuses_what_the_springboard_cannot_give() {
    // ldr w1, [sp, #0x18]: a local of the top half.
    let e = derive(&bytes(&schedule(&[0xb9401be1])), BASE, &context()).unwrap_err();
    assert!(format!("{e:#}").contains("local of the top half"), "{e:#}");
    // mov x0, x21: x21 is the top half's `mov w21, w0` (an argument).
    let e = derive(&bytes(&schedule(&[0xaa1503e0])), BASE, &context()).unwrap_err();
    assert!(format!("{e:#}").contains("x21"), "{e:#}");
    // An epilogue that does not authenticate what the entry signed.
    let mut unauth = schedule(&[]);
    let k = unauth.iter().position(|&w| w == 0xd50323bf).unwrap();
    unauth[k] = 0xd503201f; // nop
    let e = derive(&bytes(&unauth), BASE, &context()).unwrap_err();
    assert!(
        format!("{e:#}").contains("do not all authenticate"),
        "{e:#}"
    );
    // Two calls of __switch_to.
    let mut two = schedule(&[]);
    two[CALL + 1] = bl(CALL + 1, SWITCH_TO);
    let e = derive(&bytes(&two), BASE, &context()).unwrap_err();
    assert!(format!("{e:#}").contains("2 `bl __switch_to`"), "{e:#}");
}

/// The module's `__schedule`: vmlinux's prologue, then the springboard
/// (`sub sp, x29, #0x60`, the live-in registers, `b`) at `SB`.
fn module(live_in: &[u32]) -> Vec<u32> {
    let mut m = schedule(&[]);
    m.truncate(CALL - 2);
    m.push(0xd10183bf); // sub sp, x29, #0x60
    m.extend_from_slice(live_in);
    m.push(0x14000010); // b
    m
}

const LIVE_IN: [u32; 4] = [
    0xd5384118, // mrs x24, sp_el0
    0xb0000019, // adrp x25, +0x1000
    0x9100a339, // add x25, x25, #0x28
    0xaa0003f3, // mov x19, x0
];

#[test]
fn module_check() {
    let mut vm = derive(&bytes(&schedule(&[0xeb16027f])), BASE, &context()).unwrap();
    vm.live_in.retain(|(r, _)| *r != 22);
    let m = module(&LIVE_IN);
    let b_at = 0x100 + 4 * (m.len() as u64 - 1);
    let good =
        move |a: u64| (a == b_at).then(|| ("__plugsched_vmlinux___schedule".to_string(), 0x50));
    check_module(&bytes(&m), 0x100, &vm, &good).unwrap();
    // The jump goes elsewhere.
    let e = check_module(&bytes(&m), 0x100, &vm, &|_| None).unwrap_err();
    assert!(
        format!("{e:#}").contains("neither to __plugsched_vmlinux___schedule+0x50"),
        "{e:#}"
    );
    // A live-in register not set.
    let e = check_module(&bytes(&module(&LIVE_IN[..3])), 0x100, &vm, &good).unwrap_err();
    assert!(
        format!("{e:#}").contains("does not set x19 to Prev"),
        "{e:#}"
    );
    // A different frame: sub sp, sp, #0xd0.
    let mut bad = m.clone();
    bad[1] = 0xd10343ff;
    assert!(check_module(&bytes(&bad), 0x100, &vm, &good).is_err());
    // No springboard.
    let e = check_module(&bytes(&schedule(&[])), 0x100, &vm, &good).unwrap_err();
    assert!(format!("{e:#}").contains("0 `sub sp, x29"), "{e:#}");
}

/// The module's side as `c_shims/` would write it for arm64: a
/// `__schedule` compiled by clang with the arm64 kernel's flags (pac-ret,
/// BTI, per-task canary at task+0x778), every callee-saved register
/// clobbered by the springboard, which sets `sp` from `x29`, the live-in
/// registers of the test kernel's header, and jumps.  It passes
/// `springboard-check` against the test kernel's facts.  (It must have a
/// path that returns, as the real one has: without one clang stores no
/// canary, and vmlinux's tail would find none at x29-8.)
const MODULE_SCHEDULE: &str = r#"
struct task { long state; };
extern struct task *pick(int mode);
extern void fill(char *buf);
#define LIVE_IN "mov x19, x0\n\tmov x22, x1\n\tmrs x24, sp_el0\n\t" \
	"adrp x25, __plugsched_vmlinux___cpu_online_mask\n\t" \
	"add x25, x25, :lo12:__plugsched_vmlinux___cpu_online_mask"
__attribute__((patchable_function_entry(0, 0), section(".sched.text")))
void __schedule(int mode)
{
	char buf[64];
	struct task *prev = pick(mode), *next = pick(mode + 1);
	fill(buf);
	if (prev == next)
		return;
	register struct task *x0 asm("x0") = prev;
	register struct task *x1 asm("x1") = next;
	asm volatile("sub sp, x29, #0x60\n\t" LIVE_IN "\n\t"
		     "b __plugsched_vmlinux___schedule + 0x8d8"
		     : : "r"(x0), "r"(x1)
		     : "memory", "x19", "x20", "x21", "x22", "x23", "x24",
		       "x25", "x26", "x27", "x28");
	__builtin_unreachable();
}
"#;

#[test]
fn a_clang_module_passes_the_check() {
    use crate::test_util::{
        run,
        Scratch, //
    };
    let dir = Scratch::new("springboard-arm64", "module");
    std::fs::write(dir.join("core.c"), MODULE_SCHEDULE).unwrap();
    let flags = [
        "--target=aarch64-linux-gnu",
        "-O2",
        "-mgeneral-regs-only",
        "-fno-omit-frame-pointer",
        "-fno-asynchronous-unwind-tables",
        "-fpatchable-function-entry=4,2",
        "-mbranch-protection=pac-ret+bti",
        "-fstack-protector-strong",
        "-mstack-protector-guard=sysreg",
        "-mstack-protector-guard-reg=sp_el0",
        "-mstack-protector-guard-offset=1912",
    ];
    let mut args = flags.to_vec();
    args.extend(["-c", "core.c", "-o", "core.o"]);
    run(dir.path(), "clang", &args);
    let vm = Facts {
        offset: 0x8d8,
        live_in: vec![
            (19, Value::Prev),
            (22, Value::Next),
            (24, Value::Current),
            (25, Value::Address("__cpu_online_mask".into(), 0)),
        ],
        ..derive(&bytes(&schedule(&[])), BASE, &context()).unwrap()
    };
    let m = std::fs::read(dir.join("core.o")).unwrap();
    let split = crate::springboard::split::Split::Aarch64(vm.clone());
    crate::springboard::check_module_file(&m, &split).unwrap_or_else(|e| {
        let d = run(dir.path(), "llvm-objdump", &["-dr", "core.o"]);
        panic!("{e:#}\n{d}")
    });
    // Without a path that returns, clang stores no canary: refused.
    let noret = MODULE_SCHEDULE.replace("if (prev == next)\n\t\treturn;", "");
    std::fs::write(dir.join("noret.c"), noret).unwrap();
    let mut args = flags.to_vec();
    args.extend(["-c", "noret.c", "-o", "noret.o"]);
    run(dir.path(), "clang", &args);
    let n = std::fs::read(dir.join("noret.o")).unwrap();
    let e = crate::springboard::check_module_file(&n, &split).unwrap_err();
    assert!(format!("{e:#}").contains("canary: None"), "{e:#}");
    // The call's form: x30 = __schedule+0x8dc, b __switch_to.
    let call_form = MODULE_SCHEDULE.replace(
        "\"b __plugsched_vmlinux___schedule + 0x8d8\"",
        "\"adrp x30, __plugsched_vmlinux___schedule + 0x8dc\\n\\t\" \
         \"add x30, x30, :lo12:__plugsched_vmlinux___schedule + 0x8dc\\n\\t\" \
         \"b __plugsched_vmlinux___switch_to\"",
    );
    assert_ne!(call_form, MODULE_SCHEDULE);
    std::fs::write(dir.join("call.c"), call_form).unwrap();
    let mut args = flags.to_vec();
    args.extend(["-c", "call.c", "-o", "call.o"]);
    run(dir.path(), "clang", &args);
    let c = std::fs::read(dir.join("call.o")).unwrap();
    crate::springboard::check_module_file(&c, &split).unwrap_or_else(|e| {
        let d = run(dir.path(), "llvm-objdump", &["-dr", "call.o"]);
        panic!("{e:#}\n{d}")
    });
    // Another jump offset fails.
    let other = crate::springboard::split::Split::Aarch64(Facts {
        offset: 0x8dc,
        ..vm
    });
    assert!(crate::springboard::check_module_file(&m, &other).is_err());
}
