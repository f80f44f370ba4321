// SPDX-License-Identifier: GPL-2.0

//! x86_64 instruction encoding and patch-site classification for function
//! redirection.
//!
//! A function of a kernel built with IBT, call padding and `-mfentry` starts
//! with ENDBR64 (or, when never address-taken, the sealed form written at
//! boot), followed by the 5-byte ftrace site, a NOP5 while untraced.  Our
//! 5-byte `jmp rel32` goes *after* the ENDBR, so indirect calls still land
//! on an ENDBR, i.e. on the ftrace site for traceable functions and on the
//! first body bytes for `notrace` ones.

use core::fmt;

/// `endbr64`.
pub const ENDBR64: [u8; 4] = [0xf3, 0x0f, 0x1e, 0xfa];
/// What the kernel seals an unused ENDBR64 to at boot: `nopl -42(%rax)`.
pub const ENDBR_SEALED: [u8; 4] = [0x0f, 0x1f, 0x40, 0xd6];
/// The 5-byte NOP ftrace leaves at an untraced `__fentry__` call site.
pub const NOP5: [u8; 5] = [0x0f, 0x1f, 0x44, 0x00, 0x00];
/// Length of a `jmp rel32` / `call rel32`.
pub const PATCH_LEN: usize = 5;

const OP_CALL: u8 = 0xe8;
const OP_JMP: u8 = 0xe9;
const OP_INT3: u8 = 0xcc;

/// How a function begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// `endbr64`.
    Endbr,
    /// Sealed ENDBR (the function's address is never taken).
    Sealed,
    /// No ENDBR: kernel built without IBT, or a local function.
    Plain,
}

impl Entry {
    /// Classify the first four bytes of a function.
    pub fn of(head: &[u8; 4]) -> Self {
        match *head {
            ENDBR64 => Entry::Endbr,
            ENDBR_SEALED => Entry::Sealed,
            _ => Entry::Plain,
        }
    }

    /// Offset of the patch site from the function's start.
    pub fn patch_offset(self) -> u64 {
        match self {
            Entry::Endbr | Entry::Sealed => 4,
            Entry::Plain => 0,
        }
    }
}

/// A rel32 target that a 5-byte instruction at `from` cannot reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfRange {
    /// Address of the instruction.
    pub from: u64,
    /// Wanted target.
    pub to: u64,
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#x} is out of rel32 range of {:#x}",
            self.to, self.from
        )
    }
}

fn encode_rel32(op: u8, from: u64, to: u64) -> Result<[u8; PATCH_LEN], OutOfRange> {
    let r = rel32(from, PATCH_LEN as u64, to)?;
    Ok([op, r[0], r[1], r[2], r[3]])
}

/// `jmp rel32` at address `from` to `to`.
pub fn encode_jmp(from: u64, to: u64) -> Result<[u8; PATCH_LEN], OutOfRange> {
    encode_rel32(OP_JMP, from, to)
}

/// `call rel32` at address `from` to `to`.
pub fn encode_call(from: u64, to: u64) -> Result<[u8; PATCH_LEN], OutOfRange> {
    encode_rel32(OP_CALL, from, to)
}

fn rel32_target(at: u64, bytes: &[u8; PATCH_LEN]) -> u64 {
    let rel = i32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    at.wrapping_add(PATCH_LEN as u64)
        .wrapping_add(i64::from(rel) as u64)
}

/// The bytes of one hop, padded with `int3` (Documentation/live-update.rst,
/// "Hops").
pub const HOP_LEN: usize = 32;

/// A hop at `hop`: while the byte at `flag` is 0 it continues the old
/// function right after its patch site (`cont`, the site's end: the site is
/// ftrace's NOP, so nothing is skipped), otherwise it jumps to the new
/// function `new`:
///
/// ```text
/// cmpb $0x0, flag(%rip)     80 3d <rel32> 00
/// jne  new                  0f 85 <rel32>
/// jmp  cont                 e9 <rel32>
/// int3 ...                  cc
/// ```
pub fn encode_hop(hop: u64, flag: u64, new: u64, cont: u64) -> Result<[u8; HOP_LEN], OutOfRange> {
    let mut b = [OP_INT3; HOP_LEN];
    b[..2].copy_from_slice(&[0x80, 0x3d]);
    b[2..6].copy_from_slice(&rel32(hop, 7, flag)?);
    b[6] = 0;
    b[7..9].copy_from_slice(&[0x0f, 0x85]);
    b[9..13].copy_from_slice(&rel32(hop + 7, 6, new)?);
    b[13..18].copy_from_slice(&encode_jmp(hop + 13, cont)?);
    Ok(b)
}

/// The rel32 of an instruction of `len` bytes at `from` referring to `to`.
fn rel32(from: u64, len: u64, to: u64) -> Result<[u8; 4], OutOfRange> {
    let rel = to.wrapping_sub(from.wrapping_add(len)) as i64;
    let rel = i32::try_from(rel).map_err(|_| OutOfRange { from, to })?;
    Ok(rel.to_le_bytes())
}

/// What the five bytes at a patch site are now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// The ftrace NOP: an untraced, unpatched traceable function.
    Nop5,
    /// `call target`: ftrace (tracer, kprobe on ftrace, livepatch, BPF
    /// trampoline) is attached.
    Call(u64),
    /// `jmp target`: a direct jump (ftrace direct jmp, us, or another patcher).
    Jmp(u64),
    /// A breakpoint: a kprobe, or text patching in progress.
    Int3,
    /// Anything else: the body of a `notrace` function, or foreign bytes.
    Other([u8; PATCH_LEN]),
}

impl Site {
    /// Classify the five bytes at address `at`.
    pub fn of(at: u64, bytes: &[u8; PATCH_LEN]) -> Self {
        match bytes[0] {
            _ if *bytes == NOP5 => Site::Nop5,
            OP_CALL => Site::Call(rel32_target(at, bytes)),
            OP_JMP => Site::Jmp(rel32_target(at, bytes)),
            OP_INT3 => Site::Int3,
            _ => Site::Other(*bytes),
        }
    }
}

/// What an untouched function has at its patch site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// A traceable function: the ftrace NOP.
    FtraceNop,
    /// A `notrace` function: these bytes of its body, as built.
    Body([u8; PATCH_LEN]),
}

/// Why a patch site may not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiteError {
    /// ftrace calls out of the site (tracer, kprobe, livepatch, BPF).
    Traced(u64),
    /// Someone already jumps away from the site.
    Redirected(u64),
    /// A breakpoint sits on the site.
    Breakpoint,
    /// The bytes are not what the function was built with.
    Unexpected([u8; PATCH_LEN]),
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
            SiteError::Breakpoint => write!(f, "int3 breakpoint (kprobe or text patching)"),
            SiteError::Unexpected(b) => write!(f, "unexpected bytes {b:02x?}"),
        }
    }
}

/// Check that the site at `at` holds exactly what an untouched function has.
pub fn check_untouched(
    at: u64,
    bytes: &[u8; PATCH_LEN],
    expected: Expected,
) -> Result<(), SiteError> {
    if let Expected::Body(body) = expected {
        if *bytes == body {
            return Ok(());
        }
    }
    match Site::of(at, bytes) {
        Site::Nop5 if expected == Expected::FtraceNop => Ok(()),
        Site::Call(t) => Err(SiteError::Traced(t)),
        Site::Jmp(t) => Err(SiteError::Redirected(t)),
        Site::Int3 => Err(SiteError::Breakpoint),
        Site::Nop5 | Site::Other(_) => Err(SiteError::Unexpected(*bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_util::Rng;

    #[test]
    fn hop_encoding() {
        // Hand-assembled: at 0x1000, flag at 0x3000, new at 0x2000, old
        // continues at 0x500.
        let hop = encode_hop(0x1000, 0x3000, 0x2000, 0x500).unwrap();
        assert_eq!(hop[..7], [0x80, 0x3d, 0xf9, 0x1f, 0, 0, 0]);
        assert_eq!(hop[7..13], [0x0f, 0x85, 0xf3, 0x0f, 0, 0]);
        assert_eq!(hop[13..18], [0xe9, 0xee, 0xf4, 0xff, 0xff]);
        assert!(hop[18..].iter().all(|&b| b == 0xcc));
        // Each of the three references must reach.
        let far = 0x1000 + (1u64 << 32);
        assert!(encode_hop(0x1000, far, 0x2000, 0x500).is_err());
        assert!(encode_hop(0x1000, 0x3000, far, 0x500).is_err());
        assert!(encode_hop(0x1000, 0x3000, 0x2000, far).is_err());
    }

    #[test]
    fn jmp_encoding() {
        // Forward and backward, checked against hand-assembled bytes.
        assert_eq!(encode_jmp(0x1000, 0x1005).unwrap(), [0xe9, 0, 0, 0, 0]);
        assert_eq!(
            encode_jmp(0x1000, 0x1000).unwrap(),
            [0xe9, 0xfb, 0xff, 0xff, 0xff]
        );
        assert_eq!(
            encode_jmp(0xffff_ffff_8100_0004, 0xffff_ffff_c000_0000).unwrap(),
            [0xe9, 0xf7, 0xff, 0xff, 0x3e]
        );
        assert_eq!(
            encode_call(0x1000, 0x2000).unwrap(),
            [0xe8, 0xfb, 0x0f, 0, 0]
        );
        // Limits of rel32.
        let from = 0x1_0000_0000u64;
        assert!(encode_jmp(from, from + 5 + i32::MAX as u64).is_ok());
        assert!(encode_jmp(from, from + 6 + i32::MAX as u64).is_err());
        assert!(encode_jmp(from, from + 5 - (1u64 << 31)).is_ok());
        assert!(encode_jmp(from, from + 4 - (1u64 << 31)).is_err());
    }

    /// Property: encoding then classifying gives back the target, and
    /// encoding fails exactly when the displacement does not fit in i32.
    #[test]
    fn encode_classify_roundtrip() {
        let mut rng = Rng::new(7);
        for _ in 0..100_000 {
            let from = 0xffff_ffff_0000_0000 | (rng.next() >> 32);
            let span = match rng.below(3) {
                0 => rng.next() >> 33,
                1 => rng.next() >> 31,
                _ => rng.next(),
            };
            let to = if rng.below(2) == 0 {
                from.wrapping_add(span)
            } else {
                from.wrapping_sub(span)
            };
            // Addresses are modulo 2^64, like RIP: reduce the exact
            // difference into [-2^63, 2^63) before the range check.
            let m = 1i128 << 64;
            let mut wide = ((to as i128) - (from as i128 + 5)).rem_euclid(m);
            if wide >= m / 2 {
                wide -= m;
            }
            let fits = wide >= i32::MIN as i128 && wide <= i32::MAX as i128;
            match encode_jmp(from, to) {
                Ok(b) => {
                    assert!(fits);
                    assert_eq!(Site::of(from, &b), Site::Jmp(to));
                }
                Err(e) => {
                    assert!(!fits);
                    assert_eq!(e, OutOfRange { from, to });
                }
            }
        }
    }

    #[test]
    fn entries() {
        assert_eq!(Entry::of(&ENDBR64), Entry::Endbr);
        assert_eq!(Entry::of(&ENDBR_SEALED), Entry::Sealed);
        assert_eq!(Entry::of(&[0x55, 0x48, 0x89, 0xe5]), Entry::Plain);
        assert_eq!(Entry::Endbr.patch_offset(), 4);
        assert_eq!(Entry::Sealed.patch_offset(), 4);
        assert_eq!(Entry::Plain.patch_offset(), 0);
    }

    #[test]
    fn site_checks() {
        let at = 0xffff_ffff_8100_0004;
        assert_eq!(check_untouched(at, &NOP5, Expected::FtraceNop), Ok(()));
        let traced = encode_call(at, 0xffff_ffff_c000_1000).unwrap();
        assert_eq!(
            check_untouched(at, &traced, Expected::FtraceNop),
            Err(SiteError::Traced(0xffff_ffff_c000_1000))
        );
        let jumped = encode_jmp(at, 0xffff_ffff_c000_2000).unwrap();
        assert_eq!(
            check_untouched(at, &jumped, Expected::FtraceNop),
            Err(SiteError::Redirected(0xffff_ffff_c000_2000))
        );
        let bp = [0xcc, 0x1f, 0x44, 0, 0];
        assert_eq!(
            check_untouched(at, &bp, Expected::FtraceNop),
            Err(SiteError::Breakpoint)
        );
        // A notrace body: `push %rbp; mov %rsp,%rbp; push %r15`.
        let body = [0x55, 0x48, 0x89, 0xe5, 0x41];
        assert_eq!(check_untouched(at, &body, Expected::Body(body)), Ok(()));
        assert_eq!(
            check_untouched(at, &body, Expected::FtraceNop),
            Err(SiteError::Unexpected(body))
        );
        // A NOP5 where a body was expected is not untouched either.
        assert_eq!(
            check_untouched(at, &NOP5, Expected::Body(body)),
            Err(SiteError::Unexpected(NOP5))
        );
        // A body that happens to start with 0xe8 is fine when expected.
        let callbody = [0xe8, 1, 2, 3, 4];
        assert_eq!(
            check_untouched(at, &callbody, Expected::Body(callbody)),
            Ok(())
        );
    }
}
