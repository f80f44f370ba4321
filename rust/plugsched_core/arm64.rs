// SPDX-License-Identifier: GPL-2.0

//! arm64 instruction encoding and patch-site classification for function
//! redirection: the counterpart of [`crate::x86`].
//!
//! Source references are to Linux 7.3.  A function of a kernel built with
//! `DYNAMIC_FTRACE_WITH_CALL_OPS` and `ARM64_BTI_KERNEL` (clang-19,
//! `-fpatchable-function-entry=4,2 -mbranch-protection=pac-ret+bti`,
//! arch/arm64/Makefile:81-82,143-145) looks like this
//! (arch/arm64/kernel/ftrace.c:95-116):
//!
//! ```text
//! func-8:        NOP             ftrace's ops literal, low half
//! func-4:        NOP             ftrace's ops literal, high half
//! func+0:  func: BTI C           landing pad of indirect calls
//! func+4:        NOP             MOV X9, X30 once ftrace_init_nop ran
//! func+8:        NOP             BL <ftrace caller> while traced (rec->ip)
//! func+12:       PACIASP ...     the body
//! ```
//!
//! ftrace rewrites the first NOP to `MOV X9, X30` at boot for every
//! traceable function (`ftrace_init_nop`, ftrace.c:440-475), so a running,
//! untraced function has `MOV X9, X30; NOP` there, a traced one
//! `MOV X9, X30; BL ...`.  A `notrace` function has no NOPs
//! (include/linux/compiler_types.h:215): clang-19 starts it with `BTI C`,
//! or with `PACIASP` alone when it signs its return address (PACIASP is
//! itself a landing pad for `BLR` and `BR X16`), also for static functions
//! never called indirectly.  Without BTI there is no landing pad.  The
//! kernel's `inline` implies `notrace` (compiler_types.h:235): in the arm64
//! test kernel, 150 of the 1569 functions of kernel/sched start with
//! `PACIASP` (`__schedule` among them), 26 with `BTI C` and no ftrace slots.
//!
//! The redirect keeps `BTI C` and is written after it, at the first ftrace
//! slot, so that indirect callers still land on a landing pad.  A leading
//! `PACIASP` cannot stay in front of it: the target signs the return
//! address itself, and a second signature makes its `AUTIASP` fail.  So it
//! is replaced by `BTI C`, an equivalent landing pad for every branch the
//! kernel uses to enter a function (`BLR`, and `BR X16`/`BR X17`: the
//! kernel makes `PACIxSP` refuse other `BR`s, arch/arm64/kernel/
//! cpufeature.c:2398-2406).
//!
//! A redirect is a `B` when the target is within ±128 MiB, which is where
//! the kernel places modules while there is room, else in a 2 GiB window
//! (arch/arm64/mm/init.c:482-536); otherwise a 16-byte veneer, which
//! reaches anything.  The veneer overwrites up to 4 instructions after the
//! entry (20 bytes with the `BTI C`): ftrace's slots and body
//! instructions.  That is safe because the engine replaces a function only
//! when no task has a frame or its PC in it or in its `.cold`/`.part`
//! pieces (the stack check), writes the bytes inside `stop_machine`, so no
//! CPU runs them while they change, and keeps the original bytes to
//! restore on rollback: every path into the overwritten instructions
//! starts at the function's entry or inside the function, so nothing runs
//! them while they are replaced.  The engine must check the whole written
//! length for other owners (jump labels, kprobes).
//!
//! Use by the engine, per function `func` of `size` bytes redirected to
//! `new`:
//!
//! 1. plan: [`Entry::of`] its first instruction; `traceable` if ftrace has
//!    a record at [`Entry::ftrace_ip`] (that address, not the site, is
//!    what ftrace is told to leave alone); [`redirect`] gives the site
//!    address, `B` or veneer, and the bytes; a veneer needs
//!    [`check_landing`] on `new`'s first instruction; read as many bytes
//!    at the site and keep [`untouched`] of them for rollback;
//! 2. apply: the site holds exactly those bytes, and
//!    [`check_untouched`] names what else is there;
//! 3. revert: the site holds exactly the redirect ([`check_redirected`]
//!    and [`check_untouched`] name what else is there).

use core::fmt;

/// One A64 instruction, as the CPU reads it (little-endian in memory).
pub type Insn = u32;
/// Bytes per instruction.
pub const INSN_LEN: usize = 4;

/// `NOP` (`HINT #0`, arch/arm64/include/asm/insn.h:18).
pub const NOP: Insn = 0xd503_201f;
/// `BTI C` (`HINT #34`, insn.h:46): landing pad of `BLR` and `BR X16/X17`.
pub const BTI_C: Insn = 0xd503_245f;
/// `BTI J` (`HINT #36`, insn.h:47): landing pad of `BR`.
pub const BTI_J: Insn = 0xd503_249f;
/// `BTI JC` (`HINT #38`, insn.h:48): landing pad of every indirect branch.
pub const BTI_JC: Insn = 0xd503_24df;
/// `PACIASP` (`HINT #25`, insn.h:31): signs X30 with SP, key A.
pub const PACIASP: Insn = 0xd503_233f;
/// `PACIBSP` (`HINT #27`, insn.h:33): signs X30 with SP, key B.
pub const PACIBSP: Insn = 0xd503_237f;
/// `AUTIASP` (`HINT #29`, insn.h:35): authenticates X30 signed by PACIASP.
pub const AUTIASP: Insn = 0xd503_23bf;
/// `AUTIBSP` (`HINT #31`, insn.h:37).
pub const AUTIBSP: Insn = 0xd503_23ff;
/// `MOV X9, X30` (`ORR X9, XZR, X30`): what `ftrace_init_nop` writes over
/// the first ftrace NOP (arch/arm64/kernel/ftrace.c:472-474).
pub const MOV_X9_X30: Insn = 0xaa1e_03e9;
/// `LDR X16, #8`: loads the literal two instructions further.
pub const LDR_X16_LIT8: Insn = 0x5800_0050;
/// `BR X16` (insn.h:435); X16 makes the branch BTYPE 01, which `BTI C`,
/// `BTI J`, `BTI JC`, `PACIASP` and `PACIBSP` all accept.
pub const BR_X16: Insn = 0xd61f_0200;
/// `RET`.
pub const RET: Insn = 0xd65f_03c0;

/// `B`/`BL` (insn.h:422-423): opcode mask and values, imm26 in words.
const BRANCH_MASK: Insn = 0xfc00_0000;
const OP_B: Insn = 0x1400_0000;
const OP_BL: Insn = 0x9400_0000;
const IMM26_MASK: Insn = 0x03ff_ffff;
/// `B`/`BL` reach `[-128 MiB, 128 MiB)` (arch/arm64/lib/insn.c:253,273).
pub const BRANCH_RANGE: i64 = 128 << 20;
/// `BRK #imm16` (insn.h:432).
const BRK_MASK: Insn = 0xffe0_001f;
const OP_BRK: Insn = 0xd420_0000;
/// Any `BTI` (insn.h:454): what `ftrace_call_adjust` skips (ftrace.c:128-133).
const BTI_MASK: Insn = 0xffff_ff3f;
const OP_BTI: Insn = 0xd503_241f;

/// `BRK` immediates written into kernel text at run time
/// (arch/arm64/include/asm/brk-imm.h:23-29): kprobes (kprobes.c:151),
/// uprobes, kprobe single-step and kretprobe, the fault `BRK` the
/// instruction generators return on error, and kgdb's dynamic breakpoint.
/// The others (`BUG`, KASAN, UBSAN, CFI, kgdb's compiled one) are part of
/// the code as built.
pub const INSERTED_BRK_IMMS: [u16; 6] = [0x004, 0x005, 0x006, 0x007, 0x100, 0x400];

/// Length of the veneer: `LDR X16, #8; BR X16; .quad target`.
pub const VENEER_LEN: usize = 16;
/// The longest redirect: `BTI C` and the veneer.
pub const PATCH_MAX: usize = INSN_LEN + VENEER_LEN;

/// The instruction at word `i` of `bytes` (little-endian), if there.
pub fn insn_at(bytes: &[u8], i: usize) -> Option<Insn> {
    let start = i.checked_mul(INSN_LEN)?;
    let b = bytes.get(start..start.checked_add(INSN_LEN)?)?;
    Some(Insn::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Whether `insn` is a `BTI` of any kind.
pub fn is_bti(insn: Insn) -> bool {
    insn & BTI_MASK == OP_BTI
}

/// Whether `insn` signs the return address and is a landing pad:
/// `PACIASP` or `PACIBSP`.
pub fn is_pacisp(insn: Insn) -> bool {
    insn == PACIASP || insn == PACIBSP
}

/// Whether an indirect branch through X16 or X17 (`BR X16`, which sets
/// PSTATE.BTYPE to 0b01) may land on `insn` in a guarded page: `BTI C`,
/// `BTI J`, `BTI JC` (Arm ARM, BTypeCompatible_BTI: `C` refuses only
/// BTYPE 0b11, `J` only 0b10), `PACIASP` and `PACIBSP` (compatible with
/// BTYPE 0b01 and 0b10).
pub fn accepts_br_x16(insn: Insn) -> bool {
    matches!(insn, BTI_C | BTI_J | BTI_JC) || is_pacisp(insn)
}

/// The immediate of a `BRK`.
pub fn brk_imm(insn: Insn) -> Option<u16> {
    (insn & BRK_MASK == OP_BRK).then_some(((insn >> 5) & 0xffff) as u16)
}

/// Whether `insn` is a breakpoint written at run time (a kprobe, kgdb).
pub fn is_inserted_brk(insn: Insn) -> bool {
    brk_imm(insn).is_some_and(|imm| INSERTED_BRK_IMMS.contains(&imm))
}

/// A `B`/`BL` target that an instruction at `from` cannot encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfRange {
    /// Address of the instruction.
    pub from: u64,
    /// Wanted target.
    pub to: u64,
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (from, to) = (self.from, self.to);
        if (from | to) % INSN_LEN as u64 != 0 {
            write!(
                f,
                "{from:#x} -> {to:#x}: B/BL needs 4-byte aligned addresses"
            )
        } else {
            write!(f, "{to:#x} is out of B/BL range (128 MiB) of {from:#x}")
        }
    }
}

/// The byte offset from `from` to `to` if a `B`/`BL` can encode it:
/// both aligned, `[-128 MiB, 128 MiB)` apart (insn.c:242-275).
fn branch_offset(from: u64, to: u64) -> Result<i64, OutOfRange> {
    let off = to.wrapping_sub(from) as i64;
    let aligned = (from | to) % INSN_LEN as u64 == 0;
    if aligned && (-BRANCH_RANGE..BRANCH_RANGE).contains(&off) {
        Ok(off)
    } else {
        Err(OutOfRange { from, to })
    }
}

fn encode_imm26(op: Insn, from: u64, to: u64) -> Result<Insn, OutOfRange> {
    let words = branch_offset(from, to)? >> 2;
    Ok(op | (words as Insn & IMM26_MASK))
}

/// `B to` at address `from`.
pub fn encode_b(from: u64, to: u64) -> Result<Insn, OutOfRange> {
    encode_imm26(OP_B, from, to)
}

/// `BL to` at address `from`.
pub fn encode_bl(from: u64, to: u64) -> Result<Insn, OutOfRange> {
    encode_imm26(OP_BL, from, to)
}

/// Target of the imm26 branch `insn` at `at` (insn.c:1307-1309).
fn imm26_target(at: u64, insn: Insn) -> u64 {
    let off = (((insn & IMM26_MASK) << 6) as i32) >> 4;
    at.wrapping_add(i64::from(off) as u64)
}

/// Target of `insn` at `at` if it is a `B`.
pub fn decode_b(at: u64, insn: Insn) -> Option<u64> {
    (insn & BRANCH_MASK == OP_B).then(|| imm26_target(at, insn))
}

/// Target of `insn` at `at` if it is a `BL`.
pub fn decode_bl(at: u64, insn: Insn) -> Option<u64> {
    (insn & BRANCH_MASK == OP_BL).then(|| imm26_target(at, insn))
}

/// The veneer to `to`: `LDR X16, #8; BR X16; .quad to`.  It is position
/// independent.  X16 is IP0, which AAPCS64 lets any call clobber, and it
/// makes the `BR` acceptable to a `BTI C` at the target.  The literal is
/// 8-byte aligned only if the veneer is; the kernel runs with alignment
/// checks off (SCTLR_EL1.A clear, arch/arm64/include/asm/sysreg.h:863-870),
/// so the `LDR` works either way.
pub fn encode_veneer(to: u64) -> [u8; VENEER_LEN] {
    let mut v = [0u8; VENEER_LEN];
    let parts = [
        LDR_X16_LIT8.to_le_bytes(),
        BR_X16.to_le_bytes(),
        (to as u32).to_le_bytes(),
        ((to >> 32) as u32).to_le_bytes(),
    ];
    for (dst, src) in v.chunks_exact_mut(INSN_LEN).zip(parts) {
        dst.copy_from_slice(&src);
    }
    v
}

/// The target of a veneer that starts `bytes`, if they hold one.
pub fn decode_veneer(bytes: &[u8]) -> Option<u64> {
    let word = |i| insn_at(bytes, i);
    if word(0)? != LDR_X16_LIT8 || word(1)? != BR_X16 {
        return None;
    }
    Some(u64::from(word(2)?) | (u64::from(word(3)?) << 32))
}

/// The bytes of a patch site: what a redirect writes, or what it
/// replaces.  Whole instructions, at most [`PATCH_MAX`] bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Code {
    len: usize,
    bytes: [u8; PATCH_MAX],
}

impl Code {
    /// No instruction.
    pub const EMPTY: Code = Code {
        len: 0,
        bytes: [0; PATCH_MAX],
    };

    /// The code held by `bytes`: whole instructions, at most
    /// [`PATCH_MAX`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > PATCH_MAX || bytes.len() % INSN_LEN != 0 {
            return None;
        }
        let mut c = Code::EMPTY;
        c.bytes.iter_mut().zip(bytes).for_each(|(d, s)| *d = *s);
        c.len = bytes.len();
        Some(c)
    }

    /// Append `insn`; ignored when full.
    fn push(&mut self, insn: Insn) {
        if let Some(dst) = self.bytes.get_mut(self.len..self.len + INSN_LEN) {
            dst.copy_from_slice(&insn.to_le_bytes());
            self.len += INSN_LEN;
        }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no instruction.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Instruction `i`.
    pub fn insn(&self, i: usize) -> Option<Insn> {
        insn_at(self.as_bytes(), i)
    }

    /// The instructions.
    pub fn insns(&self) -> impl Iterator<Item = Insn> + '_ {
        (0..self.len / INSN_LEN).filter_map(|i| self.insn(i))
    }

    /// This code with instruction `i` replaced by `insn`.
    fn with_insn(mut self, i: usize, insn: Insn) -> Self {
        if insn_at(self.as_bytes(), i).is_some() {
            let start = i * INSN_LEN;
            if let Some(dst) = self.bytes.get_mut(start..start + INSN_LEN) {
                dst.copy_from_slice(&insn.to_le_bytes());
            }
        }
        self
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, insn) in self.insns().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            write!(f, "{sep}{insn:08x}")?;
        }
        f.write_str("]")
    }
}

/// How a function begins: its landing pad.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A `BTI` (`BTI C` for C functions and `SYM_FUNC_START`,
    /// arch/arm64/include/asm/linkage.h:18-20).  Kept; the site follows.
    Bti,
    /// `PACIASP` or `PACIBSP`, which clang-19 emits instead of `BTI C` in a
    /// `notrace` function that saves its return address.  The redirect
    /// replaces it, starting with `BTI C`.
    Pac,
    /// No landing pad: a kernel without BTI.
    Plain,
}

impl Entry {
    /// Classify the first instruction of a function.
    pub fn of(head: &[u8; INSN_LEN]) -> Self {
        match Insn::from_le_bytes(*head) {
            i if is_bti(i) => Entry::Bti,
            i if is_pacisp(i) => Entry::Pac,
            _ => Entry::Plain,
        }
    }

    /// Offset of the patch site from the function's start.
    pub fn patch_offset(self) -> u64 {
        match self {
            Entry::Bti => INSN_LEN as u64,
            Entry::Pac | Entry::Plain => 0,
        }
    }

    /// Where ftrace's record of the function at `func` is if it is
    /// traceable (`rec->ip`, the `BL` slot, ftrace.c:125-140): the
    /// address to ask `ftrace_location()` about and to hand to ftrace.
    pub fn ftrace_ip(self, func: u64) -> u64 {
        func.wrapping_add(self.patch_offset() + INSN_LEN as u64)
    }
}

/// A function's entry as the redirect sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Its landing pad.
    pub entry: Entry,
    /// Whether it has ftrace's two slots at the site (ftrace knows
    /// [`Entry::ftrace_ip`]).
    pub traceable: bool,
}

impl Layout {
    /// Address of the patch site of the function at `func`.
    pub fn site(self, func: u64) -> u64 {
        func.wrapping_add(self.entry.patch_offset())
    }

    /// Bytes a redirect `via` writes at the site: the `BTI C` replacing a
    /// `PACIASP`, then the `B` or the veneer; a `B` in a traceable function
    /// also covers ftrace's call slot, rewritten as its untraced `NOP`, so
    /// that the site check sees a tracer and rollback restores both slots.
    pub fn redirect_len(self, via: Via) -> usize {
        let pad = if self.entry == Entry::Pac {
            INSN_LEN
        } else {
            0
        };
        let jump = match via {
            Via::Branch if self.traceable => 2 * INSN_LEN,
            Via::Branch => INSN_LEN,
            Via::Veneer => VENEER_LEN,
        };
        pad + jump
    }
}

/// How a redirect reaches its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// `B target`: within ±128 MiB.
    Branch,
    /// The veneer: anywhere; the target needs a landing pad
    /// ([`check_landing`]).
    Veneer,
}

impl Via {
    /// `B` where it reaches from the jump's address `from`, else the veneer.
    pub fn choose(from: u64, to: u64) -> Self {
        match encode_b(from, to) {
            Ok(_) => Via::Branch,
            Err(_) => Via::Veneer,
        }
    }
}

/// Why a function cannot be redirected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectError {
    /// The function or its target is not 4-byte aligned.
    Misaligned {
        /// The function.
        func: u64,
        /// The target.
        to: u64,
    },
    /// The redirect needs more bytes than the function has.
    TooSmall {
        /// The function's size.
        size: u64,
        /// Bytes from its start the redirect covers.
        need: u64,
    },
    /// ftrace slots after a `PACIASP`: not a layout compilers emit.
    BadLayout,
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RedirectError::Misaligned { func, to } => {
                write!(f, "{func:#x} -> {to:#x}: not 4-byte aligned")
            }
            RedirectError::TooSmall { size, need } => write!(
                f,
                "function of {size} bytes too small for a {need}-byte redirect (target beyond 128 MiB)"
            ),
            RedirectError::BadLayout => write!(f, "ftrace slots after PACIASP: unknown layout"),
        }
    }
}

/// One redirect: `code`, written at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Redirect {
    /// The patch site.
    pub at: u64,
    /// `B` or veneer.
    pub via: Via,
    /// The bytes to write.
    pub code: Code,
}

/// The redirect of the function at `func` (`size` bytes, entry `layout`)
/// to `to`: a `B` if it reaches, else the veneer, after the kept landing
/// pad or starting with the `BTI C` that replaces a `PACIASP`.
pub fn redirect(layout: Layout, func: u64, size: u64, to: u64) -> Result<Redirect, RedirectError> {
    if (func | to) % INSN_LEN as u64 != 0 {
        return Err(RedirectError::Misaligned { func, to });
    }
    if layout.entry == Entry::Pac && layout.traceable {
        return Err(RedirectError::BadLayout);
    }
    let at = layout.site(func);
    let mut code = Code::EMPTY;
    if layout.entry == Entry::Pac {
        code.push(BTI_C);
    }
    let jump = at.wrapping_add(code.len() as u64);
    let via = Via::choose(jump, to);
    let need = layout.entry.patch_offset() + layout.redirect_len(via) as u64;
    if need > size {
        return Err(RedirectError::TooSmall { size, need });
    }
    push_jump(&mut code, via, jump, to, layout.traceable);
    Ok(Redirect { at, via, code })
}

/// Append the jump at `jump` to `to` (`B` reaches it when `via` says so).
fn push_jump(code: &mut Code, via: Via, jump: u64, to: u64, traceable: bool) {
    match (via, encode_b(jump, to)) {
        (Via::Branch, Ok(b)) => {
            code.push(b);
            if traceable {
                code.push(NOP);
            }
        }
        _ => {
            let v = encode_veneer(to);
            (0..VENEER_LEN / INSN_LEN)
                .filter_map(|i| insn_at(&v, i))
                .for_each(|i| code.push(i));
        }
    }
}

/// What the bytes at a patch site are now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// ftrace's untraced slots: `NOP; NOP` as built, or `MOV X9, X30; NOP`
    /// after `ftrace_init_nop`.
    FtraceNop,
    /// ftrace's slots calling `target` (`MOV X9, X30; BL target`): a
    /// tracer, kprobe on ftrace, livepatch or BPF trampoline is attached.
    Call(u64),
    /// `B target` (after a `BTI`): a redirect, ours or another patcher's.
    Jmp(u64),
    /// Our veneer to `target` (after a `BTI`).
    Veneer(u64),
    /// A breakpoint written at run time (kprobe, kgdb) at byte `offset`.
    Brk {
        /// Byte offset in the site.
        offset: usize,
        /// Its immediate ([`INSERTED_BRK_IMMS`]).
        imm: u16,
    },
    /// Anything else: the body of a `notrace` function, or foreign code.
    Other(Code),
}

impl Site {
    /// Classify the code at address `at`.
    pub fn of(at: u64, code: &Code) -> Self {
        // A redirect replacing PACIASP starts with BTI C.
        let skip = usize::from(code.insn(0).is_some_and(is_bti) && code.len() > INSN_LEN);
        let a = at.wrapping_add((skip * INSN_LEN) as u64);
        let rest = code.as_bytes().get(skip * INSN_LEN..).unwrap_or(&[]);
        let (w0, w1) = (insn_at(rest, 0), insn_at(rest, 1));
        if let Some(t) = w0.and_then(|w| decode_b(a, w)) {
            return Site::Jmp(t);
        }
        // Before the BRK scan: a veneer's literal is data, not code.
        if let Some(t) = decode_veneer(rest) {
            return Site::Veneer(t);
        }
        if let Some((offset, imm)) = inserted_brk(code) {
            return Site::Brk { offset, imm };
        }
        match (w0, w1) {
            (Some(NOP | MOV_X9_X30), Some(NOP)) => Site::FtraceNop,
            (Some(NOP | MOV_X9_X30), Some(w)) => match decode_bl(a.wrapping_add(4), w) {
                Some(t) => Site::Call(t),
                None => Site::Other(*code),
            },
            _ => Site::Other(*code),
        }
    }
}

/// The first breakpoint written at run time in `code`: (offset, imm).
fn inserted_brk(code: &Code) -> Option<(usize, u16)> {
    code.insns()
        .enumerate()
        .find(|&(_, w)| is_inserted_brk(w))
        .and_then(|(i, w)| Some((i * INSN_LEN, brk_imm(w)?)))
}

/// What an untouched function has at its patch site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// A traceable function: ftrace's untraced slots, then any body
    /// instructions the redirect covers, without run-time breakpoints.
    FtraceNop,
    /// Exactly these bytes: a `notrace` function's as built, or the
    /// untouched bytes recorded when the redirect was planned.
    Body(Code),
}

/// Why a patch site may not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiteError {
    /// ftrace calls out of the site (tracer, kprobe, livepatch, BPF).
    Traced(u64),
    /// Someone jumps away from the site (`B` or veneer) to this target.
    Redirected(u64),
    /// A breakpoint written at run time: `BRK #imm` at byte `offset`.
    Breakpoint {
        /// Byte offset in the site.
        offset: usize,
        /// The `BRK` immediate (4: kprobe, 0x400: kgdb).
        imm: u16,
    },
    /// The bytes are not what the function was built with.
    Unexpected(Code),
}

impl fmt::Display for SiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SiteError::Traced(t) => write!(
                f,
                "traced: ftrace calls {t:#x} here (tracer, kprobe, livepatch or BPF attached)"
            ),
            SiteError::Redirected(t) => {
                write!(f, "already redirected to {t:#x} by another patcher")
            }
            SiteError::Breakpoint { offset, imm } => {
                write!(f, "BRK #{imm:#x} at +{offset} (kprobe: 0x4, kgdb: 0x400)")
            }
            SiteError::Unexpected(c) => write!(f, "unexpected instructions {c:?}"),
        }
    }
}

/// Why `now` at `at` is not what was expected: the most specific cause.
fn cause(at: u64, now: &Code) -> SiteError {
    match Site::of(at, now) {
        Site::Call(t) => SiteError::Traced(t),
        Site::Jmp(t) | Site::Veneer(t) => SiteError::Redirected(t),
        Site::Brk { offset, imm } => SiteError::Breakpoint { offset, imm },
        Site::FtraceNop | Site::Other(_) => SiteError::Unexpected(*now),
    }
}

/// Check that the site at `at` holds exactly what an untouched function
/// has; an error names the cause.
pub fn check_untouched(at: u64, now: &Code, expected: Expected) -> Result<(), SiteError> {
    let ok = match expected {
        Expected::Body(body) => *now == body,
        // Site::of reports a run-time BRK anywhere in `now` first.
        Expected::FtraceNop => Site::of(at, now) == Site::FtraceNop,
    };
    if ok {
        Ok(())
    } else {
        Err(cause(at, now))
    }
}

/// The untouched code of a site with layout `layout` that holds `now`,
/// read when the redirect is planned: for a traceable function, ftrace's
/// slots as untraced (a tracer attached now must not be frozen in the
/// rollback bytes), for a `notrace` one `now`, which must not be patched.
pub fn untouched(at: u64, layout: Layout, now: &Code) -> Result<Code, SiteError> {
    if layout.traceable {
        return match Site::of(at, now) {
            Site::FtraceNop | Site::Call(_) => {
                let clean = now.with_insn(1, NOP);
                check_untouched(at, &clean, Expected::FtraceNop).map(|()| clean)
            }
            _ => Err(cause(at, now)),
        };
    }
    match Site::of(at, now) {
        Site::Other(_) => Ok(*now),
        _ => Err(cause(at, now)),
    }
}

/// Check that the site at `at` holds a redirect to `to` (ours, when
/// rolling back, whichever form); an error names what is there instead.
pub fn check_redirected(at: u64, now: &Code, to: u64) -> Result<(), SiteError> {
    match Site::of(at, now) {
        Site::Jmp(t) | Site::Veneer(t) if t == to => Ok(()),
        _ => Err(cause(at, now)),
    }
}

/// A target that cannot be entered the way the redirect enters it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LandingError {
    /// The target's first instruction.
    pub head: Insn,
}

impl fmt::Display for LandingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "target starts with {:08x}, no landing pad for the veneer's BR X16 (BTI C/J/JC, PACIASP or PACIBSP)",
            self.head
        )
    }
}

/// Check that a target whose first instruction is `head` can be entered
/// `via`: a `B` needs no landing pad; the veneer's `BR X16` one that
/// accepts BTYPE 01 ([`accepts_br_x16`]), or BTI faults in a guarded page.
pub fn check_landing(via: Via, head: &[u8; INSN_LEN]) -> Result<(), LandingError> {
    let head = Insn::from_le_bytes(*head);
    match via {
        Via::Branch => Ok(()),
        Via::Veneer if accepts_br_x16(head) => Ok(()),
        Via::Veneer => Err(LandingError { head }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_util::Rng;

    /// Code from instructions.
    fn code(insns: &[Insn]) -> Code {
        let mut c = Code::EMPTY;
        insns.iter().for_each(|&i| c.push(i));
        c
    }

    const FUNC: u64 = 0xffff_8000_8012_3450;
    const NEAR: u64 = 0xffff_8000_8412_3450;
    const FAR: u64 = 0xffff_8000_fc00_1230;

    /// The constants against `llvm-mc --show-encoding` (clang 19.1.7).
    #[test]
    fn constants_match_the_assembler() {
        let table: [([u8; 4], Insn); 13] = [
            ([0x1f, 0x20, 0x03, 0xd5], NOP),
            ([0x5f, 0x24, 0x03, 0xd5], BTI_C),
            ([0x9f, 0x24, 0x03, 0xd5], BTI_J),
            ([0xdf, 0x24, 0x03, 0xd5], BTI_JC),
            ([0x3f, 0x23, 0x03, 0xd5], PACIASP),
            ([0x7f, 0x23, 0x03, 0xd5], PACIBSP),
            ([0xbf, 0x23, 0x03, 0xd5], AUTIASP),
            ([0xff, 0x23, 0x03, 0xd5], AUTIBSP),
            ([0xe9, 0x03, 0x1e, 0xaa], MOV_X9_X30),
            ([0x50, 0x00, 0x00, 0x58], LDR_X16_LIT8),
            ([0x00, 0x02, 0x1f, 0xd6], BR_X16),
            ([0xc0, 0x03, 0x5f, 0xd6], RET),
            ([0x1f, 0x24, 0x03, 0xd5], OP_BTI),
        ];
        for (bytes, insn) in table {
            assert_eq!(Insn::from_le_bytes(bytes), insn, "{insn:08x}");
        }
        for (bytes, imm) in [
            ([0x80, 0x00, 0x20, 0xd4], 0x4),
            ([0x00, 0x80, 0x20, 0xd4], 0x400),
            ([0x00, 0x00, 0x21, 0xd4], 0x800),
            ([0x00, 0x00, 0x30, 0xd4], 0x8000),
        ] {
            assert_eq!(brk_imm(Insn::from_le_bytes(bytes)), Some(imm));
        }
        assert!(is_inserted_brk(0xd420_0080));
        assert!(is_inserted_brk(0xd420_8000));
        assert!(!is_inserted_brk(0xd421_0000), "BUG() is code");
        assert!(!is_inserted_brk(NOP));
        assert_eq!(brk_imm(0xd420_0081), None, "HLT-like, not BRK");
        for bti in [BTI_C, BTI_J, BTI_JC, OP_BTI] {
            assert!(is_bti(bti));
        }
        assert!(!is_bti(NOP) && !is_bti(PACIASP));
    }

    /// B/BL against llvm-objdump of llvm-mc and clang output.
    #[test]
    fn branches_match_the_assembler() {
        let bl = [(0xc4, 0xe8, 0x9400_0009), (0x2c, 0x68, 0x9400_000f)];
        let bl2 = [(0x38, 0x68, 0x9400_000c), (0x44, 0x80, 0x9400_000f)];
        let bl3 = [(0x50, 0x4c, 0x97ff_ffff), (0x58, 0x128c, 0x9400_048d)];
        for (from, to, insn) in bl.into_iter().chain(bl2).chain(bl3) {
            assert_eq!(encode_bl(from, to), Ok(insn));
            assert_eq!(decode_bl(from, insn), Some(to));
            assert_eq!(decode_b(from, insn), None);
        }
        let b = [
            (0x48, 0x800_0044, 0x15ff_ffff),
            (0x4c, 0x4c_u64.wrapping_sub(1 << 27), 0x1600_0000),
            (0x54, 0x54, 0x1400_0000),
            (0x124, 0x124, 0x1400_0000),
        ];
        for (from, to, insn) in b {
            assert_eq!(encode_b(from, to), Ok(insn));
            assert_eq!(decode_b(from, insn), Some(to));
            assert_eq!(decode_bl(from, insn), None);
        }
    }

    #[test]
    fn branch_limits() {
        let from = FUNC;
        let max = from + (1 << 27) - 4;
        assert!(encode_b(from, max).is_ok());
        assert_eq!(
            encode_b(from, max + 4),
            Err(OutOfRange { from, to: max + 4 })
        );
        assert!(encode_b(from, from - (1 << 27)).is_ok());
        assert!(encode_bl(from, from - (1 << 27) - 4).is_err());
        assert!(encode_b(from, from + 2).is_err());
        assert!(encode_b(from + 1, from + 8).is_err());
        // Wrapping at the top of the address space, like the CPU.
        assert_eq!(
            decode_b(u64::MAX - 3, encode_b(u64::MAX - 3, 4).unwrap()),
            Some(4)
        );
        let far = std::format!("{}", encode_b(from, FAR).unwrap_err());
        assert!(far.contains("out of B/BL range"), "{far}");
        let odd = std::format!("{}", encode_b(from, FAR + 2).unwrap_err());
        assert!(odd.contains("aligned"), "{odd}");
    }

    /// Property: encoding succeeds exactly when the displacement is
    /// aligned and in `[-2^27, 2^27)`, and decodes back to the target.
    #[test]
    fn branch_roundtrip() {
        let mut rng = Rng::new(64);
        for _ in 0..100_000 {
            let from = 0xffff_8000_0000_0000 | (rng.next() >> 20) & !3;
            let span = match rng.below(3) {
                0 => rng.next() >> 38,
                1 => rng.next() >> 36,
                _ => rng.next(),
            } & !(rng.below(4) & 3);
            let to = if rng.below(2) == 0 {
                from.wrapping_add(span)
            } else {
                from.wrapping_sub(span)
            };
            let off = to.wrapping_sub(from) as i64;
            let fits = off % 4 == 0 && (-(1 << 27)..(1 << 27)).contains(&off);
            match (encode_b(from, to), encode_bl(from, to)) {
                (Ok(b), Ok(bl)) => {
                    assert!(fits);
                    assert_eq!(decode_b(from, b), Some(to));
                    assert_eq!(decode_bl(from, bl), Some(to));
                    assert_eq!(Via::choose(from, to), Via::Branch);
                }
                (Err(e), Err(_)) => {
                    assert!(!fits);
                    assert_eq!(e, OutOfRange { from, to });
                    assert_eq!(Via::choose(from, to), Via::Veneer);
                }
                _ => panic!("B and BL disagree"),
            }
        }
    }

    /// Property: every B decodes to a target that encodes back to it.
    #[test]
    fn every_imm26_roundtrips() {
        let mut rng = Rng::new(26);
        for _ in 0..100_000 {
            let insn = OP_B | (rng.next() as Insn & IMM26_MASK);
            let at = (rng.next() & !3) | 0xffff_0000_0000_0000;
            let to = decode_b(at, insn).unwrap();
            assert_eq!(encode_b(at, to), Ok(insn));
        }
    }

    #[test]
    fn veneer() {
        let v = encode_veneer(0xffff_8000_8123_4560);
        assert_eq!(
            v,
            [
                0x50, 0x00, 0x00, 0x58, 0x00, 0x02, 0x1f, 0xd6, 0x60, 0x45, 0x23, 0x81, 0x00, 0x80,
                0xff, 0xff
            ]
        );
        assert_eq!(decode_veneer(&v), Some(0xffff_8000_8123_4560));
        assert_eq!(decode_veneer(&v[..12]), None);
        let mut other = v;
        other[4] = 0x20; // BR X17
        assert_eq!(decode_veneer(&other), None);
        assert_eq!(decode_veneer(&[]), None);
    }

    #[test]
    fn code_bytes() {
        let c = code(&[BTI_C, NOP]);
        assert_eq!(c.len(), 8);
        assert_eq!(
            c.as_bytes(),
            &[0x5f, 0x24, 0x03, 0xd5, 0x1f, 0x20, 0x03, 0xd5]
        );
        assert_eq!(Code::from_bytes(c.as_bytes()), Some(c));
        assert_eq!(Code::from_bytes(&[0; 6]), None);
        assert_eq!(Code::from_bytes(&[0; PATCH_MAX + 4]), None);
        assert!(Code::from_bytes(&[0; PATCH_MAX]).is_some());
        assert!(Code::EMPTY.is_empty());
        assert_eq!(c.with_insn(1, RET).insn(1), Some(RET));
        assert_eq!(c.with_insn(2, RET), c, "out of range: unchanged");
        let mut full = Code::from_bytes(&[0; PATCH_MAX]).unwrap();
        full.push(NOP);
        assert_eq!(full.len(), PATCH_MAX, "push on a full code is ignored");
        assert_eq!(std::format!("{c:?}"), "[d503245f d503201f]");
        assert_eq!(insn_at(c.as_bytes(), usize::MAX), None);
        assert_eq!(c.insn(2), None);
        // Addresses wrap like the CPU's, never overflow.
        let top = u64::MAX - 7;
        assert_eq!(Entry::Bti.ftrace_ip(top), 0);
        let r = redirect(NOTRACE, top, 8, top.wrapping_add(12)).unwrap();
        assert_eq!(Site::of(r.at, &r.code), Site::Jmp(top.wrapping_add(12)));
    }

    #[test]
    fn entries() {
        let e = |i: Insn| Entry::of(&i.to_le_bytes());
        for bti in [BTI_C, BTI_J, BTI_JC, OP_BTI] {
            assert_eq!(e(bti), Entry::Bti);
        }
        assert_eq!(e(PACIASP), Entry::Pac);
        assert_eq!(e(PACIBSP), Entry::Pac);
        assert_eq!(e(NOP), Entry::Plain);
        assert_eq!(e(0xa9be_7bfd), Entry::Plain); // stp x29, x30, [sp, #-32]!
        assert_eq!(Entry::Bti.patch_offset(), 4);
        assert_eq!(Entry::Pac.patch_offset(), 0);
        assert_eq!(Entry::Plain.patch_offset(), 0);
        // ftrace_call_adjust: the BL slot, after the BTI and the MOV slot.
        assert_eq!(Entry::Bti.ftrace_ip(FUNC), FUNC + 8);
        assert_eq!(Entry::Plain.ftrace_ip(FUNC), FUNC + 4);
    }

    const TRACED: Layout = Layout {
        entry: Entry::Bti,
        traceable: true,
    };
    const NOTRACE: Layout = Layout {
        entry: Entry::Bti,
        traceable: false,
    };
    const PAC: Layout = Layout {
        entry: Entry::Pac,
        traceable: false,
    };
    const PLAIN: Layout = Layout {
        entry: Entry::Plain,
        traceable: true,
    };

    fn veneer_insns(to: u64) -> [Insn; 4] {
        [LDR_X16_LIT8, BR_X16, to as u32, (to >> 32) as u32]
    }

    #[test]
    fn redirects() {
        let r = redirect(TRACED, FUNC, 0x40, NEAR).unwrap();
        let b = encode_b(FUNC + 4, NEAR).unwrap();
        assert_eq!(
            (r.at, r.via, r.code),
            (FUNC + 4, Via::Branch, code(&[b, NOP]))
        );
        let r = redirect(NOTRACE, FUNC, 0x40, NEAR).unwrap();
        assert_eq!((r.at, r.code), (FUNC + 4, code(&[b])));
        let r = redirect(PAC, FUNC, 0x40, NEAR).unwrap();
        assert_eq!((r.at, r.code), (FUNC, code(&[BTI_C, b])));
        let r = redirect(PLAIN, FUNC, 0x40, NEAR).unwrap();
        let b0 = encode_b(FUNC, NEAR).unwrap();
        assert_eq!((r.at, r.code), (FUNC, code(&[b0, NOP])));
        let r = redirect(TRACED, FUNC, 0x40, FAR).unwrap();
        assert_eq!((r.at, r.via), (FUNC + 4, Via::Veneer));
        assert_eq!(r.code, code(&veneer_insns(FAR)));
        let r = redirect(PAC, FUNC, 0x40, FAR).unwrap();
        let [l, br, lo, hi] = veneer_insns(FAR);
        assert_eq!((r.at, r.code), (FUNC, code(&[BTI_C, l, br, lo, hi])));
        for layout in [TRACED, NOTRACE, PAC, PLAIN] {
            for to in [NEAR, FAR] {
                let r = redirect(layout, FUNC, 0x40, to).unwrap();
                assert_eq!(r.code.len(), layout.redirect_len(r.via));
                assert_eq!(r.at, layout.site(FUNC));
            }
        }
    }

    /// Functions too small for a veneer, from clang-19's output for the
    /// kernel's flags: `sl` (BTI C; 2 insns; RET: 16 bytes) and `tail`
    /// (BTI C; B: 8 bytes) fit a B only; `leaf` (BTI C; NOP; NOP; ADD;
    /// RET: 20 bytes) fits the veneer exactly.
    #[test]
    fn redirect_sizes() {
        assert!(redirect(NOTRACE, FUNC, 16, NEAR).is_ok());
        assert_eq!(
            redirect(NOTRACE, FUNC, 16, FAR),
            Err(RedirectError::TooSmall { size: 16, need: 20 })
        );
        assert!(redirect(NOTRACE, FUNC, 8, NEAR).is_ok());
        assert!(redirect(TRACED, FUNC, 20, FAR).is_ok());
        assert!(redirect(PAC, FUNC, 20, FAR).is_ok());
        assert!(redirect(PAC, FUNC, 16, FAR).is_err());
        assert_eq!(
            redirect(NOTRACE, FUNC, 4, NEAR),
            Err(RedirectError::TooSmall { size: 4, need: 8 })
        );
        assert_eq!(
            redirect(NOTRACE, FUNC + 2, 64, NEAR),
            Err(RedirectError::Misaligned {
                func: FUNC + 2,
                to: NEAR
            })
        );
        assert!(redirect(NOTRACE, FUNC, 64, NEAR + 1).is_err());
        let bad = Layout {
            entry: Entry::Pac,
            traceable: true,
        };
        assert_eq!(redirect(bad, FUNC, 64, NEAR), Err(RedirectError::BadLayout));
        let msg = std::format!("{}", RedirectError::TooSmall { size: 16, need: 20 });
        assert!(msg.contains("too small"), "{msg}");
    }

    /// Property: a redirect classifies as a jump to its target, is what
    /// check_redirected accepts, and is never taken for untouched code.
    #[test]
    fn redirect_classify_roundtrip() {
        let mut rng = Rng::new(1664);
        let layouts = [TRACED, NOTRACE, PAC, PLAIN];
        for _ in 0..50_000 {
            let func = 0xffff_8000_8000_0000 | (rng.next() >> 28) & !7;
            let to = match rng.below(2) {
                0 => func.wrapping_add(rng.next() >> 37).wrapping_sub(1 << 26) & !3,
                _ => 0xffff_8000_0000_0000 | (rng.next() >> 16) & !3,
            };
            let layout = layouts[rng.below(4) as usize];
            let r = redirect(layout, func, 0x100, to).unwrap();
            let expect = match r.via {
                Via::Branch => Site::Jmp(to),
                Via::Veneer => Site::Veneer(to),
            };
            assert_eq!(Site::of(r.at, &r.code), expect);
            assert_eq!(check_redirected(r.at, &r.code, to), Ok(()));
            assert_eq!(
                check_untouched(r.at, &r.code, Expected::FtraceNop),
                Err(SiteError::Redirected(to))
            );
            assert_eq!(
                untouched(r.at, layout, &r.code),
                Err(SiteError::Redirected(to))
            );
        }
    }

    #[test]
    fn ftrace_slots() {
        let at = FUNC + 4;
        let caller = 0xffff_8000_8001_0000;
        let bl = encode_bl(at + 4, caller).unwrap();
        // As built, after ftrace_init_nop, and traced.
        for built in [[NOP, NOP], [MOV_X9_X30, NOP]] {
            let c = code(&built);
            assert_eq!(Site::of(at, &c), Site::FtraceNop);
            assert_eq!(check_untouched(at, &c, Expected::FtraceNop), Ok(()));
        }
        let traced = code(&[MOV_X9_X30, bl, PACIASP, 0xa9be_7bfd]);
        assert_eq!(Site::of(at, &traced), Site::Call(caller));
        assert_eq!(
            check_untouched(at, &traced, Expected::FtraceNop),
            Err(SiteError::Traced(caller))
        );
        // The plan records the untraced slots, not the tracer's call.
        let clean = untouched(at, TRACED, &traced).unwrap();
        assert_eq!(clean, code(&[MOV_X9_X30, NOP, PACIASP, 0xa9be_7bfd]));
        assert_eq!(check_untouched(at, &clean, Expected::FtraceNop), Ok(()));
        assert_eq!(
            check_untouched(at, &traced, Expected::Body(clean)),
            Err(SiteError::Traced(caller))
        );
        // A notrace body where ftrace slots were expected.
        let body = code(&[PACIASP, 0xa9be_7bfd]);
        assert_eq!(
            check_untouched(at, &body, Expected::FtraceNop),
            Err(SiteError::Unexpected(body))
        );
        assert_eq!(
            untouched(at, TRACED, &body),
            Err(SiteError::Unexpected(body))
        );
    }

    #[test]
    fn breakpoints() {
        let at = FUNC + 4;
        let kprobe = 0xd420_0080;
        let kgdb = 0xd420_8000;
        let bug = 0xd421_0000;
        let on_slot = code(&[kprobe, NOP]);
        assert_eq!(Site::of(at, &on_slot), Site::Brk { offset: 0, imm: 4 });
        let in_body = code(&[MOV_X9_X30, NOP, kgdb, RET]);
        let err = SiteError::Breakpoint {
            offset: 8,
            imm: 0x400,
        };
        assert_eq!(check_untouched(at, &in_body, Expected::FtraceNop), Err(err));
        assert_eq!(untouched(at, TRACED, &in_body), Err(err));
        let msg = std::format!("{err}");
        assert!(msg.contains("BRK #0x400 at +8"), "{msg}");
        // A BUG() trap is part of a notrace body as built.
        let body = code(&[0xf100_001f, 0x5400_0041, bug, RET]);
        assert_eq!(Site::of(at, &body), Site::Other(body));
        assert_eq!(untouched(at, NOTRACE, &body), Ok(body));
        let probed = body.with_insn(1, kprobe);
        assert_eq!(
            check_untouched(at, &probed, Expected::Body(body)),
            Err(SiteError::Breakpoint { offset: 4, imm: 4 })
        );
        // A veneer's literal is data, whatever it looks like.
        let lit = 0xffff_8000_d420_0080;
        let v = code(&veneer_insns(lit));
        assert_eq!(Site::of(at, &v), Site::Veneer(lit));
    }

    #[test]
    fn foreign_redirects() {
        let at = FUNC + 4;
        let other = 0xffff_8000_8300_0000;
        let b = code(&[encode_b(at, other).unwrap(), NOP]);
        assert_eq!(
            check_untouched(at, &b, Expected::FtraceNop),
            Err(SiteError::Redirected(other))
        );
        assert_eq!(
            check_redirected(at, &b, NEAR),
            Err(SiteError::Redirected(other))
        );
        assert_eq!(check_redirected(at, &b, other), Ok(()));
        let v = code(&veneer_insns(FAR));
        assert_eq!(
            check_untouched(at, &v, Expected::FtraceNop),
            Err(SiteError::Redirected(FAR))
        );
        // Rolled back already: untouched code is not a redirect.
        let nop = code(&[MOV_X9_X30, NOP]);
        assert_eq!(
            check_redirected(at, &nop, NEAR),
            Err(SiteError::Unexpected(nop))
        );
        // After a kept-or-replacing BTI C, at the next instruction.
        let pac = code(&[BTI_C, encode_b(FUNC + 4, other).unwrap()]);
        assert_eq!(Site::of(FUNC, &pac), Site::Jmp(other));
        let msg = std::format!("{}", SiteError::Redirected(other));
        assert!(msg.contains("another patcher"), "{msg}");
    }

    #[test]
    fn notrace_bodies() {
        // clang-19: `PACIASP; STP X29, X30, [SP, #-32]!` and
        // `BTI C; ADD W0, W0, #7; RET` (site after the BTI).
        let pac = code(&[PACIASP, 0xa9be_7bfd]);
        assert_eq!(untouched(FUNC, PAC, &pac), Ok(pac));
        assert_eq!(check_untouched(FUNC, &pac, Expected::Body(pac)), Ok(()));
        let leaf = code(&[0x1100_1c00, RET]);
        assert_eq!(untouched(FUNC + 4, NOTRACE, &leaf), Ok(leaf));
        let changed = leaf.with_insn(0, 0x1100_2000);
        assert_eq!(
            check_untouched(FUNC + 4, &changed, Expected::Body(leaf)),
            Err(SiteError::Unexpected(changed))
        );
        let msg = std::format!("{}", SiteError::Unexpected(changed));
        assert!(msg.contains("[11002000 d65f03c0]"), "{msg}");
        // A tail-call wrapper (`BTI C; B h`) reads as a redirect.
        let tail = code(&[encode_b(FUNC + 4, NEAR).unwrap()]);
        assert_eq!(
            untouched(FUNC + 4, NOTRACE, &tail),
            Err(SiteError::Redirected(NEAR))
        );
    }

    /// Entries of the 7.3 arm64 test kernel's kernel/sched/core.o and
    /// build_utility.o (clang 19.1.7, llvm-objdump): traceable
    /// `try_to_wake_up`, `schedule` and `sched_tick`; `notrace` `__schedule`
    /// and `sched_clock_cpu`, which start with PACIASP and no BTI.
    #[test]
    fn real_kernel_entries() {
        let traced: [(&str, [Insn; 5]); 3] = [
            ("try_to_wake_up", [BTI_C, NOP, NOP, PACIASP, 0xd102_03ff]),
            ("schedule", [BTI_C, NOP, NOP, PACIASP, 0xa9be_7bfd]),
            ("sched_tick", [BTI_C, NOP, NOP, PACIASP, 0xa9bc_7bfd]),
        ];
        for (name, insns) in traced {
            let entry = Entry::of(&insns[0].to_le_bytes());
            assert_eq!(entry, Entry::Bti, "{name}");
            let layout = Layout {
                entry,
                traceable: true,
            };
            let r = redirect(layout, FUNC, 0x100, FAR).unwrap();
            assert_eq!(r.at, FUNC + 4);
            // What the plan reads at the site: after ftrace_init_nop.
            let now = code(&insns[1..]).with_insn(0, MOV_X9_X30);
            let orig = untouched(r.at, layout, &now).unwrap();
            assert_eq!(orig, now, "{name}");
            assert_eq!(check_untouched(r.at, &orig, Expected::FtraceNop), Ok(()));
            // As built, before ftrace_init_nop, too.
            let built = code(&insns[1..]);
            assert_eq!(Site::of(r.at, &built), Site::FtraceNop, "{name}");
        }
        let notrace: [(&str, [Insn; 5]); 2] = [
            (
                "__schedule",
                [PACIASP, 0xd103_03ff, 0xa906_7bfd, 0xa907_6ffc, 0xa908_67fa],
            ),
            (
                "sched_clock_cpu",
                [PACIASP, 0xa9bf_7bfd, 0x9100_03fd, 0xaa1f_03e0, 0x1400_0002],
            ),
        ];
        for (name, insns) in notrace {
            let entry = Entry::of(&insns[0].to_le_bytes());
            assert_eq!(entry, Entry::Pac, "{name}");
            let layout = Layout {
                entry,
                traceable: false,
            };
            let near = redirect(layout, FUNC, 0x100, NEAR).unwrap();
            assert_eq!((near.at, near.code.len()), (FUNC, 8));
            assert_eq!(near.code.insn(0), Some(BTI_C));
            let now = Code::from_bytes(&code(&insns).as_bytes()[..near.code.len()]).unwrap();
            assert_eq!(untouched(near.at, layout, &now), Ok(now), "{name}");
            let far = redirect(layout, FUNC, 0x100, FAR).unwrap();
            assert_eq!((far.at, far.code.len()), (FUNC, PATCH_MAX));
            assert_eq!(untouched(far.at, layout, &code(&insns)), Ok(code(&insns)));
        }
        // `bti j` at a jump-label target in sched_clock_cpu+0x18.
        assert!(is_bti(0xd503_249f));
        // notrace functions starting with a jump label: a NOP
        // (`migrate_llc_task_wrong_dst`) is body; a B
        // (`dynamic_preempt_schedule_notrace`: `B +8` to a `BTI J`) cannot
        // be told from a patcher's, and is refused (the engine's
        // jump-label check refuses the site first).
        let nop_label = code(&[NOP, 0x2a1f_03e0]);
        assert_eq!(untouched(FUNC + 4, NOTRACE, &nop_label), Ok(nop_label));
        let b_label = code(&[0x1400_0002, RET]);
        assert_eq!(
            untouched(FUNC + 4, NOTRACE, &b_label),
            Err(SiteError::Redirected(FUNC + 12))
        );
    }

    #[test]
    fn landing_pads() {
        let head = |i: Insn| i.to_le_bytes();
        for pad in [BTI_C, BTI_J, BTI_JC, PACIASP, PACIBSP] {
            assert_eq!(check_landing(Via::Veneer, &head(pad)), Ok(()));
        }
        for bad in [NOP, OP_BTI, MOV_X9_X30, 0xa9be_7bfd] {
            assert_eq!(
                check_landing(Via::Veneer, &head(bad)),
                Err(LandingError { head: bad })
            );
            assert_eq!(check_landing(Via::Branch, &head(bad)), Ok(()));
        }
        let msg = std::format!("{}", LandingError { head: NOP });
        assert!(msg.contains("d503201f"), "{msg}");
    }
}
