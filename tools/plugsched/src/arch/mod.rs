// SPDX-License-Identifier: GPL-2.0

//! The instruction sets the tool reads, chosen from an ELF file's
//! `e_machine`: x86_64 (iced-x86, where the code that reads x86 lives) and
//! arm64 ([`arm64`]: yaxpeax-arm, instruction-level facts a file each).

pub mod arm64;

use anyhow::{
    bail,
    Context as _,
    Result, //
};
use object::Object as _;

/// An instruction set of vmlinux and its modules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The instruction set of a parsed ELF file.
    pub fn of(obj: &object::File<'_>) -> Result<Self> {
        match obj.architecture() {
            object::Architecture::X86_64 => Ok(Arch::X86_64),
            object::Architecture::Aarch64 => Ok(Arch::Aarch64),
            a => bail!("unsupported architecture {a:?} (x86_64 and aarch64 are)"),
        }
    }

    /// The instruction set of the ELF file `data`.
    pub fn of_elf(data: &[u8]) -> Result<Self> {
        let obj = object::File::parse(data).context("not an ELF file")?;
        Self::of(&obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_e_machine() {
        let elf = |machine: u16| {
            let mut h = vec![0u8; 64];
            h[..4].copy_from_slice(b"\x7fELF");
            (h[4], h[5], h[6]) = (2, 1, 1); // 64-bit, little-endian, v1
            h[16] = 1; // ET_REL
            h[18..20].copy_from_slice(&machine.to_le_bytes());
            h[20] = 1;
            h[52] = 64; // e_ehsize
            h
        };
        assert_eq!(Arch::of_elf(&elf(62)).unwrap(), Arch::X86_64);
        assert_eq!(Arch::of_elf(&elf(183)).unwrap(), Arch::Aarch64);
        assert!(Arch::of_elf(&elf(40)).is_err());
    }
}
