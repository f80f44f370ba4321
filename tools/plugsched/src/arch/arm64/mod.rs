// SPDX-License-Identifier: GPL-2.0

//! arm64 (AArch64) machine code: fixed 4-byte instructions decoded by
//! yaxpeax-arm, with the facts the analyses need: branch targets
//! ([`Insn::branch_target`]), the registers an instruction reads and writes
//! ([`regs`]) and the addresses `adrp` pairs form ([`addr`]).

pub mod addr;
pub mod regs;

use yaxpeax_arch::{
    Decoder as _,
    U8Reader, //
};
use yaxpeax_arm::armv8::a64::InstDecoder;
pub use yaxpeax_arm::armv8::a64::{
    Instruction,
    Opcode,
    Operand,
    SizeCode, //
};

/// The zero register or `sp`, depending on the operand kind.
pub const ZR_SP: u16 = 31;
/// The frame pointer.
pub const FP: u16 = 29;

/// One decoded instruction (`op` is `None` if yaxpeax-arm cannot decode
/// the word: data in code, or an encoding it does not know).
#[derive(Clone, Debug)]
pub struct Insn {
    pub addr: u64,
    pub word: u32,
    pub op: Option<Instruction>,
}

/// Decode `bytes` loaded at `addr` (a multiple of 4; a trailing partial
/// word is not decoded).
pub fn decode(bytes: &[u8], addr: u64) -> Vec<Insn> {
    let dec = InstDecoder::default();
    bytes
        .chunks_exact(4)
        .zip((addr..).step_by(4))
        .map(|(w, a)| Insn {
            addr: a,
            word: u32::from_le_bytes([w[0], w[1], w[2], w[3]]),
            op: dec.decode(&mut U8Reader::new(w)).ok(),
        })
        .collect()
}

impl Insn {
    /// The opcode, if decoded.
    pub fn opcode(&self) -> Option<Opcode> {
        self.op.as_ref().map(|i| i.opcode)
    }

    /// The operands, if decoded (empty otherwise).
    pub fn operands(&self) -> &[Operand] {
        self.op.as_ref().map_or(&[], |i| &i.operands[..])
    }

    /// Address after this instruction.
    pub fn next(&self) -> u64 {
        self.addr + 4
    }

    /// The target of a direct branch: `b`, `bl`, `b.cond`, `cbz`/`cbnz`,
    /// `tbz`/`tbnz`.
    pub fn branch_target(&self) -> Option<u64> {
        let direct = matches!(
            self.opcode()?,
            Opcode::B
                | Opcode::BL
                | Opcode::Bcc(_)
                | Opcode::CBZ
                | Opcode::CBNZ
                | Opcode::TBZ
                | Opcode::TBNZ
        );
        let off = self.operands().iter().find_map(|o| match o {
            Operand::PCOffset(off) => Some(*off),
            _ => None,
        })?;
        direct.then(|| self.addr.wrapping_add(off as u64))
    }

    /// Whether this is `bl` (a direct call).
    pub fn is_call(&self) -> bool {
        self.opcode() == Some(Opcode::BL)
    }

    /// Whether control never falls through: `b`, `br`, `ret` (and the
    /// authenticating forms), `brk`, `udf`.
    pub fn ends_flow(&self) -> bool {
        matches!(
            self.opcode(),
            Some(
                Opcode::B
                    | Opcode::BR
                    | Opcode::RET
                    | Opcode::RETAA
                    | Opcode::RETAB
                    | Opcode::BRAA
                    | Opcode::BRAAZ
                    | Opcode::BRAB
                    | Opcode::BRABZ
                    | Opcode::UDF
            )
        )
    }

    /// The instruction as text, for messages.
    pub fn show(&self) -> String {
        match &self.op {
            Some(i) => format!("{i} at {:#x}", self.addr),
            None => format!(".word {:#010x} at {:#x}", self.word, self.addr),
        }
    }

    /// The fixed hint encodings (`hint #n`): `nop` 0, `paciasp` 25,
    /// `autiasp` 29, `bti` 32-38.
    pub fn hint(&self) -> Option<u32> {
        (self.word & 0xffff_f01f == 0xd503_201f).then_some((self.word >> 5) & 0x7f)
    }
}

/// `hint` numbers (`nop` is 0).
pub const HINT_PACIASP: u32 = 25;
pub const HINT_AUTIASP: u32 = 29;

#[cfg(test)]
pub mod tests;
