// SPDX-License-Identifier: GPL-2.0

//! The parts of a relocatable ELF64 LE object that `bind-data` reads --
//! sections, symbols with their values and sizes, every relocation with
//! its place in its relocation section -- read with the `object` crate's
//! ELF reader.  The file's checks and its symbols are `crate::elf`'s (which
//! also edits such files); this adds the sections and relocations.

use anyhow::Result;
use object::elf::{
    SHT_NOBITS,
    SHT_RELA, //
};
use object::read::elf::{
    FileHeader,
    Rela as _,
    SectionHeader, //
};

use crate::elf::Symbol;

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

/// One relocation (`Elf64_Rela`): the `SHT_RELA` section it is in and its
/// index there, the section it patches and where, and what it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reloc {
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
    pub syms: Vec<Symbol>,
    /// Every relocation against the symbol table, in file order.
    pub relas: Vec<Reloc>,
}

/// Read `data`, a relocatable ELF64 little-endian object.
pub fn read(data: &[u8]) -> Result<Object> {
    let (h, e) = crate::elf::header(data)?;
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
    let (syms, symtab) = crate::elf::symbol_table(&table, e, data)?;
    let mut relas = Vec::new();
    for (r, s) in table.iter().enumerate() {
        if s.sh_type(e) != SHT_RELA || s.sh_link(e) as usize != symtab {
            continue;
        }
        let Some((entries, _)) = s.rela(e, data)? else {
            continue;
        };
        for (index, x) in entries.iter().enumerate() {
            relas.push(Reloc {
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
