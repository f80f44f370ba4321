// SPDX-License-Identifier: GPL-2.0

//! The parts of a relocatable ELF64 LE object that `bind-data` reads --
//! sections, symbols with their values and sizes, every relocation with
//! its place in its relocation section -- read with the `object` crate's
//! ELF reader.  (`crate::elf` edits; this only reads.)

use anyhow::{
    ensure,
    Context,
    Result, //
};
use object::elf::{
    FileHeader64,
    ET_REL,
    SHT_NOBITS,
    SHT_RELA,
    SHT_SYMTAB, //
};
use object::read::elf::{FileHeader, Rela as _, SectionHeader, Sym as _};
use object::Endianness;

/// One section header, and where its bytes are in the file.
#[derive(Clone, Debug, Default)]
pub struct Sec {
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    /// Bytes in the file (none for `SHT_NOBITS`).
    pub offset: usize,
    pub len: usize,
}

/// One symbol table entry.
#[derive(Clone, Debug, Default)]
pub struct Sym {
    pub name: String,
    pub info: u8,
    pub shndx: u16,
    pub value: u64,
    pub size: u64,
}

impl Sym {
    /// `ELF64_ST_TYPE`: 1 object, 2 function, 3 section.
    pub fn st_type(&self) -> u8 {
        self.info & 0xf
    }
}

/// One `Elf64_Rela`, with the relocation section it is in and its index
/// there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawRela {
    pub rela_sec: usize,
    pub index: usize,
    /// The section it applies to (`sh_info`).
    pub sec: usize,
    pub offset: u64,
    pub sym: usize,
    pub rtype: u32,
    pub addend: i64,
}

/// What `bind-data` reads of an object.
pub struct Object {
    pub sections: Vec<Sec>,
    pub syms: Vec<Sym>,
    pub relas: Vec<RawRela>,
}

/// Read `data`, a relocatable ELF64 little-endian object.
pub fn read(data: &[u8]) -> Result<Object> {
    let h = FileHeader64::<Endianness>::parse(data).context("not a 64-bit ELF file")?;
    let e = h.endian()?;
    ensure!(
        e == Endianness::Little,
        "only little-endian ELF is supported"
    );
    ensure!(h.e_type(e) == ET_REL, "not a relocatable object (ET_REL)");
    let table = h.sections(e, data)?;
    let mut sections = Vec::new();
    for s in table.iter() {
        let (offset, len) = match s.file_range(e) {
            Some((o, l)) if s.sh_type(e) != SHT_NOBITS => (o as usize, l as usize),
            _ => (0, 0),
        };
        sections.push(Sec {
            name: String::from_utf8_lossy(table.section_name(e, s)?).into_owned(),
            sh_type: s.sh_type(e),
            flags: s.sh_flags(e),
            offset,
            len,
        });
    }
    let symbols = table.symbols(e, data, SHT_SYMTAB)?;
    ensure!(!symbols.is_empty(), "no symbol table");
    let symtab = symbols.section().0;
    let mut syms = Vec::new();
    for s in symbols.iter() {
        syms.push(Sym {
            name: String::from_utf8_lossy(symbols.symbol_name(e, s)?).into_owned(),
            info: s.st_info(),
            shndx: s.st_shndx(e),
            value: s.st_value(e),
            size: s.st_size(e),
        });
    }
    let mut relas = Vec::new();
    for (r, s) in table.iter().enumerate() {
        if s.sh_type(e) != SHT_RELA || s.sh_link(e) as usize != symtab {
            continue;
        }
        let Some((entries, _)) = s.rela(e, data)? else {
            continue;
        };
        for (index, x) in entries.iter().enumerate() {
            relas.push(RawRela {
                rela_sec: r,
                index,
                sec: s.sh_info(e) as usize,
                offset: x.r_offset(e),
                sym: x.r_sym(e, false) as usize,
                rtype: x.r_type(e, false),
                addend: x.r_addend(e),
            });
        }
    }
    Ok(Object {
        sections,
        syms,
        relas,
    })
}
