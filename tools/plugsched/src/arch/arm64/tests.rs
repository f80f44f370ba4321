// SPDX-License-Identifier: GPL-2.0

use super::*;

/// `target/a64t/s.s`, assembled by clang (llvm-objdump's text beside).
pub(crate) const SAMPLE: &[u32] = &[
    0xd503245f, // bti c
    0xd503201f, // nop
    0xd503233f, // paciasp
    0xa9ba7bfd, // stp x29, x30, [sp, #-0x60]!
    0x910003fd, // mov x29, sp
    0xa9016ffc, // stp x28, x27, [sp, #0x10]
    0xa9054ff4, // stp x20, x19, [sp, #0x50]
    0xd10083ff, // sub sp, sp, #0x20
    0xd5384108, // mrs x8, SP_EL0
    0xf942d908, // ldr x8, [x8, #0x5b0]
    0xf81f83a8, // stur x8, [x29, #-0x8]
    0x90000000, // adrp x0, 0x0
    0x91000000, // add x0, x0, #0x0
    0xf9400401, // ldr x1, [x0, #0x8]
    0x90000002, // adrp x2, 0x0
    0xf9400043, // ldr x3, [x2]
    0x10000004, // adr x4, .
    0x94000000, // bl .
    0x14000000, // b .
    0x54000001, // b.ne .
    0xb4000000, // cbz x0, .
    0x37180001, // tbnz w1, #0x3, .
    0xd63f0100, // blr x8
    0xd61f0200, // br x16
    0xaa0003f3, // mov x19, x0
    0xa8c67bfd, // ldp x29, x30, [sp], #0x60
    0xd50323bf, // autiasp
    0xd65f03c0, // ret
    0xf8227820, // str x0, [x1, x2, lsl #3]
    0xf94007e0, // ldr x0, [sp, #0x8]
    0x910043fd, // add x29, sp, #0x10
];

pub fn bytes(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

#[test]
fn branches_and_hints() {
    let ins = decode(&bytes(SAMPLE), 0x1000);
    assert_eq!(ins.len(), SAMPLE.len());
    let at = |a: u64| &ins[((a - 0x1000) / 4) as usize];
    for a in [0x1044, 0x1048, 0x104c, 0x1050, 0x1054] {
        assert_eq!(at(a).branch_target(), Some(a), "{}", at(a).show());
    }
    assert!(at(0x1044).is_call());
    assert!(at(0x1058).branch_target().is_none(), "blr is indirect");
    assert!(at(0x105c).ends_flow() && at(0x106c).ends_flow());
    assert_eq!(at(0x1000).hint(), Some(34), "bti c");
    assert_eq!(at(0x1008).hint(), Some(HINT_PACIASP));
    assert_eq!(at(0x1068).hint(), Some(HINT_AUTIASP));
    assert_eq!(at(0x1004).hint(), Some(0), "nop");
    assert_eq!(at(0x100c).hint(), None);
}

#[test]
fn register_effects() {
    use super::regs::{effects, SP};
    let ins = decode(&bytes(SAMPLE), 0);
    let e = |k: usize| effects(&ins[k]);
    let r = |l: &[u16]| l.iter().fold(0u32, |m, &x| m | (1 << x));
    // stp x29, x30, [sp, #-0x60]!
    assert_eq!(e(3).reads, r(&[29, 30]));
    assert_eq!((e(3).bases, e(3).writes), (r(&[SP]), r(&[SP])));
    // mov x29, sp (add)
    assert_eq!((e(4).reads, e(4).writes), (r(&[SP]), r(&[29])));
    // ldr x8, [x8, #0x5b0]
    assert_eq!((e(9).reads, e(9).bases, e(9).writes), (0, r(&[8]), r(&[8])));
    // mov x19, x0 (orr with xzr)
    assert_eq!((e(24).reads, e(24).writes), (r(&[0]), r(&[19])));
    // ldp x29, x30, [sp], #0x60
    assert_eq!(e(25).writes, r(&[29, 30, SP]));
    // str x0, [x1, x2, lsl #3]
    assert_eq!(
        (e(28).reads, e(28).bases, e(28).writes),
        (r(&[0]), r(&[1, 2]), 0)
    );
    // cbz x0 reads it; bl clobbers the caller-saved registers
    assert_eq!(e(20).reads, r(&[0]));
    assert_eq!(e(17).writes & r(&[19, 29]), 0);
    assert_ne!(e(17).writes & r(&[0, 18, 30]), 0);
}

#[test]
fn formed_addresses() {
    use super::addr::{
        formed,
        Formed, //
    };
    // adrp x0, +0x1000; add x0, x0, #0x10; ldr x1, [x0, #8];
    // adrp x2, +0x1000; ldr x3, [x2, #0x20]; adr x4, .+8; add x5, x6, #1
    let words = [
        0xb0000000, // adrp x0, +0x1000 (immlo = 1)
        0x91004000, // add x0, x0, #0x10
        0xf9400401, // ldr x1, [x0, #8]
        0xb0000002, // adrp x2, +0x1000
        0xf9401043, // ldr x3, [x2, #0x20]
        0x10000044, // adr x4, .+8
        0x910004c5, // add x5, x6, #1
    ];
    let got = formed(&decode(&bytes(&words), 0x10_0800), &Default::default());
    assert!(got[0].is_empty());
    assert_eq!(
        got[1],
        [Formed::Taken {
            addr: 0x10_1010,
            reg: 0
        }]
    );
    assert!(got[2].is_empty(), "x0 holds an address now, not a page");
    assert_eq!(got[4], [Formed::Used { addr: 0x10_1020 }]);
    assert_eq!(
        got[5],
        [Formed::Taken {
            addr: 0x10_081c,
            reg: 4
        }]
    );
    assert!(got[6].is_empty());
}

#[test]
fn pages_over_branches_and_joins() {
    use super::addr::{
        formed,
        Formed, //
    };
    let words = [
        0xb0000016, // 0: adrp x22, +0x1000
        0x34000060, // 4: cbz w0, 0x10
        0x94000000, // 8: bl .   (x22 is callee-saved: kept)
        0x14000002, // c: b 0x14
        0xb0000036, // 10: adrp x22, +0x5000 (immhi = 1, immlo = 1)
        0xb94002c1, // 14: ldr w1, [x22]   both pages reach here
        0xd65f03c0, // 18: ret
    ];
    let got = formed(&decode(&bytes(&words), 0x10_0000), &Default::default());
    let mut at14 = got[5].clone();
    at14.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(
        at14,
        [
            Formed::Used { addr: 0x10_1000 },
            Formed::Used { addr: 0x10_5000 }
        ]
    );
}
