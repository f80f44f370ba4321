// SPDX-License-Identifier: GPL-2.0

//! Minimal reader and in-place editor for 64-bit little-endian relocatable
//! ELF files (kernel modules on x86_64 and arm64).
//!
//! Edits never move existing bytes: new or grown tables (string tables,
//! sections, the section header table) are appended at the end of the file
//! and the headers are pointed at them.  Everything the editor does not touch
//! stays byte-identical.

use std::fmt;

/// `SHT_SYMTAB`
pub const SHT_SYMTAB: u32 = 2;
/// `SHT_RELA`
pub const SHT_RELA: u32 = 4;
/// `SHF_ALLOC`
pub const SHF_ALLOC: u64 = 0x2;
/// `SHF_INFO_LINK`
pub const SHF_INFO_LINK: u64 = 0x40;
/// `SHF_RELA_LIVEPATCH` (include/uapi/linux/elf.h)
pub const SHF_RELA_LIVEPATCH: u64 = 0x0010_0000;
/// `SHN_UNDEF`
pub const SHN_UNDEF: u16 = 0;
/// `SHN_LIVEPATCH` (include/uapi/linux/elf.h)
pub const SHN_LIVEPATCH: u16 = 0xff20;

const EHDR_SIZE: usize = 64;
const SHDR_SIZE: usize = 64;
const SYM_SIZE: usize = 24;
/// Size of one `Elf64_Rela`.
pub const RELA_SIZE: usize = 24;

/// A malformed or unsupported file.
#[derive(Debug)]
pub struct ElfError(pub String);

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ElfError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ElfError> {
    Err(ElfError(msg.into()))
}

/// One section header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// Offset of the name in the section name table.
    pub name_off: u32,
    /// Resolved name.
    pub name: String,
    /// `sh_type`
    pub sh_type: u32,
    /// `sh_flags`
    pub flags: u64,
    /// `sh_addr`
    pub addr: u64,
    /// `sh_offset`
    pub offset: u64,
    /// `sh_size`
    pub size: u64,
    /// `sh_link`
    pub link: u32,
    /// `sh_info`
    pub info: u32,
    /// `sh_addralign`
    pub align: u64,
    /// `sh_entsize`
    pub entsize: u64,
}

/// One symbol table entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// Resolved name.
    pub name: String,
    /// `st_name`
    pub name_off: u32,
    /// `st_info`
    pub info: u8,
    /// `st_shndx`
    pub shndx: u16,
    /// `st_value`
    pub value: u64,
}

/// One `Elf64_Rela`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rela {
    /// `r_offset`
    pub offset: u64,
    /// Symbol index (`ELF64_R_SYM`).
    pub sym: u32,
    /// Relocation type (`ELF64_R_TYPE`).
    pub rtype: u32,
    /// `r_addend`
    pub addend: i64,
}

impl Rela {
    /// The entry's on-disk bytes.
    pub fn to_bytes(self) -> [u8; RELA_SIZE] {
        let mut b = [0u8; RELA_SIZE];
        b[0..8].copy_from_slice(&self.offset.to_le_bytes());
        let info = (u64::from(self.sym) << 32) | u64::from(self.rtype);
        b[8..16].copy_from_slice(&info.to_le_bytes());
        b[16..24].copy_from_slice(&self.addend.to_le_bytes());
        b
    }
}

/// A relocatable ELF64 LE file held in memory.
pub struct Elf {
    /// The file's bytes.
    pub data: Vec<u8>,
    /// Section headers, by index.
    pub sections: Vec<Section>,
    shstrndx: usize,
}

fn u16_at(d: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([d[o], d[o + 1]])
}

fn u32_at(d: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(d[o..o + 4].try_into().unwrap())
}

fn u64_at(d: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(d[o..o + 8].try_into().unwrap())
}

fn cstr_at(d: &[u8], o: usize) -> Result<String, ElfError> {
    let Some(rest) = d.get(o..) else {
        return err(format!("string offset {o} out of bounds"));
    };
    let Some(end) = rest.iter().position(|&b| b == 0) else {
        return err(format!("unterminated string at {o}"));
    };
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

impl Elf {
    /// Parse a relocatable ELF64 little-endian file.
    pub fn parse(data: Vec<u8>) -> Result<Self, ElfError> {
        if data.len() < EHDR_SIZE || &data[0..4] != b"\x7fELF" {
            return err("not an ELF file");
        }
        if data[4] != 2 || data[5] != 1 {
            return err("only 64-bit little-endian ELF is supported");
        }
        if u16_at(&data, 16) != 1 {
            return err("not a relocatable object (ET_REL)");
        }
        let shoff = u64_at(&data, 0x28) as usize;
        let shentsize = usize::from(u16_at(&data, 0x3a));
        let shnum = usize::from(u16_at(&data, 0x3c));
        let shstrndx = usize::from(u16_at(&data, 0x3e));
        if shentsize != SHDR_SIZE || shnum == 0 || shstrndx >= shnum {
            return err("unsupported section header table (extended numbering?)");
        }
        if shoff
            .checked_add(shnum * SHDR_SIZE)
            .is_none_or(|e| e > data.len())
        {
            return err("section header table out of bounds");
        }
        let mut sections = Vec::with_capacity(shnum);
        for i in 0..shnum {
            let o = shoff + i * SHDR_SIZE;
            let s = Section {
                name_off: u32_at(&data, o),
                name: String::new(),
                sh_type: u32_at(&data, o + 4),
                flags: u64_at(&data, o + 8),
                addr: u64_at(&data, o + 16),
                offset: u64_at(&data, o + 24),
                size: u64_at(&data, o + 32),
                link: u32_at(&data, o + 40),
                info: u32_at(&data, o + 44),
                align: u64_at(&data, o + 48),
                entsize: u64_at(&data, o + 56),
            };
            if s.sh_type != 8
                && s.offset
                    .checked_add(s.size)
                    .is_none_or(|e| e > data.len() as u64)
            {
                return err(format!("section {i} out of bounds"));
            }
            sections.push(s);
        }
        let mut elf = Elf {
            data,
            sections,
            shstrndx,
        };
        for i in 0..shnum {
            let off = elf.sections[shstrndx].offset as usize + elf.sections[i].name_off as usize;
            elf.sections[i].name = cstr_at(&elf.data, off)?;
        }
        Ok(elf)
    }

    /// Contents of section `i`.
    pub fn section_data(&self, i: usize) -> &[u8] {
        let s = &self.sections[i];
        &self.data[s.offset as usize..(s.offset + s.size) as usize]
    }

    /// Index of the section named `name`.
    #[cfg(test)]
    pub fn section_by_name(&self, name: &str) -> Option<usize> {
        self.sections.iter().position(|s| s.name == name)
    }

    /// Index of the (single) symbol table.
    pub fn symtab(&self) -> Result<usize, ElfError> {
        match self.sections.iter().position(|s| s.sh_type == SHT_SYMTAB) {
            Some(i) => Ok(i),
            None => err("no symbol table"),
        }
    }

    /// All symbols of the symbol table, by index.
    pub fn symbols(&self) -> Result<Vec<Symbol>, ElfError> {
        let st = self.symtab()?;
        let strtab = self.sections[st].link as usize;
        let str_off = self.sections[strtab].offset as usize;
        let d = self.section_data(st);
        let mut out = Vec::with_capacity(d.len() / SYM_SIZE);
        for e in d.chunks_exact(SYM_SIZE) {
            let name_off = u32_at(e, 0);
            out.push(Symbol {
                name: cstr_at(&self.data, str_off + name_off as usize)?,
                name_off,
                info: e[4],
                shndx: u16_at(e, 6),
                value: u64_at(e, 8),
            });
        }
        Ok(out)
    }

    /// The relocations of `SHT_RELA` section `i`.
    pub fn relas(&self, i: usize) -> Vec<Rela> {
        self.section_data(i)
            .chunks_exact(RELA_SIZE)
            .map(|e| {
                let info = u64_at(e, 8);
                Rela {
                    offset: u64_at(e, 0),
                    sym: (info >> 32) as u32,
                    rtype: info as u32,
                    addend: u64_at(e, 16) as i64,
                }
            })
            .collect()
    }

    /// Overwrite the relocations of `SHT_RELA` section `i` (same count).
    pub fn set_relas(&mut self, i: usize, relas: &[Rela]) {
        let s = &self.sections[i];
        assert_eq!(relas.len() * RELA_SIZE, s.size as usize);
        let base = s.offset as usize;
        for (k, r) in relas.iter().enumerate() {
            let o = base + k * RELA_SIZE;
            self.data[o..o + RELA_SIZE].copy_from_slice(&r.to_bytes());
        }
    }

    /// Set `st_name` and `st_shndx` of symbol `idx`.
    pub fn set_symbol(&mut self, idx: usize, name_off: u32, shndx: u16) {
        let st = self.symtab().expect("symbols() succeeded before");
        let o = self.sections[st].offset as usize + idx * SYM_SIZE;
        self.data[o..o + 4].copy_from_slice(&name_off.to_le_bytes());
        self.data[o + 6..o + 8].copy_from_slice(&shndx.to_le_bytes());
    }

    fn append(&mut self, bytes: &[u8], align: usize) -> u64 {
        while self.data.len() % align != 0 {
            self.data.push(0);
        }
        let off = self.data.len() as u64;
        self.data.extend_from_slice(bytes);
        off
    }

    /// Append `strings` (each NUL-terminated) to the string table section
    /// `i`, which is moved to the end of the file.  Returns their offsets.
    pub fn extend_strtab(&mut self, i: usize, strings: &[String]) -> Vec<u32> {
        let mut table = self.section_data(i).to_vec();
        let mut offs = Vec::with_capacity(strings.len());
        for s in strings {
            offs.push(table.len() as u32);
            table.extend_from_slice(s.as_bytes());
            table.push(0);
        }
        let off = self.append(&table, 1);
        self.sections[i].offset = off;
        self.sections[i].size = table.len() as u64;
        offs
    }

    /// Add a section with `contents` at the end of the file and return its
    /// index.  Its name is added to the section name table.
    pub fn add_section(&mut self, mut s: Section, contents: &[u8]) -> usize {
        let name = s.name.clone();
        s.name_off = self.extend_strtab(self.shstrndx, &[name])[0];
        s.offset = self.append(contents, s.align.max(1) as usize);
        s.size = contents.len() as u64;
        self.sections.push(s);
        self.sections.len() - 1
    }

    /// Serialise: write the section header table at the end of the file.
    pub fn finish(mut self) -> Result<Vec<u8>, ElfError> {
        let shnum = self.sections.len();
        if shnum >= 0xff00 {
            return err("too many sections");
        }
        let mut table = Vec::with_capacity(shnum * SHDR_SIZE);
        for s in &self.sections {
            table.extend_from_slice(&s.name_off.to_le_bytes());
            table.extend_from_slice(&s.sh_type.to_le_bytes());
            table.extend_from_slice(&s.flags.to_le_bytes());
            table.extend_from_slice(&s.addr.to_le_bytes());
            table.extend_from_slice(&s.offset.to_le_bytes());
            table.extend_from_slice(&s.size.to_le_bytes());
            table.extend_from_slice(&s.link.to_le_bytes());
            table.extend_from_slice(&s.info.to_le_bytes());
            table.extend_from_slice(&s.align.to_le_bytes());
            table.extend_from_slice(&s.entsize.to_le_bytes());
        }
        let off = self.append(&table, 8);
        self.data[0x28..0x30].copy_from_slice(&off.to_le_bytes());
        self.data[0x3c..0x3e].copy_from_slice(&(shnum as u16).to_le_bytes());
        Ok(self.data)
    }
}

/// `ELF64_ST_BIND`: 0 local, 1 global, 2 weak.
pub fn st_bind(info: u8) -> u8 {
    info >> 4
}

/// Rename every global symbol defined in `data` (and every local symbol
/// `base.suffix` whose `base` is such a global: compiler pieces such as
/// `.cold`) to `prefix` + name.  Undefined symbols keep their names.
/// Returns the new file and the number of renamed symbols.
pub fn prefix_defined_globals(data: Vec<u8>, prefix: &str) -> Result<(Vec<u8>, usize), ElfError> {
    let mut elf = Elf::parse(data)?;
    let syms = elf.symbols()?;
    let globals: std::collections::HashSet<&str> = syms
        .iter()
        .filter(|s| st_bind(s.info) != 0 && s.shndx != SHN_UNDEF && !s.name.is_empty())
        .map(|s| s.name.as_str())
        .collect();
    let picked: Vec<usize> = syms
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            if s.name.is_empty() || s.shndx == SHN_UNDEF {
                return false;
            }
            if st_bind(s.info) != 0 {
                return true;
            }
            s.name
                .split_once('.')
                .is_some_and(|(base, _)| globals.contains(base))
        })
        .map(|(i, _)| i)
        .collect();
    let names: Vec<String> = picked
        .iter()
        .map(|&i| format!("{prefix}{}", syms[i].name))
        .collect();
    let st = elf.symtab()?;
    let strtab = elf.sections[st].link as usize;
    let offs = elf.extend_strtab(strtab, &names);
    for (&i, off) in picked.iter().zip(offs) {
        let shndx = syms[i].shndx;
        elf.set_symbol(i, off, shndx);
    }
    Ok((elf.finish()?, picked.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_defined_globals_renames_definitions_only() {
        let dir = std::env::temp_dir().join(format!("plugsched-elf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.c"),
            "extern int wake_up_process(void *p);\n\
             static int helper(int x) { return x + 1; }\n\
             int schedule(int x) { return wake_up_process(0) + helper(x); }\n\
             int runqueues = 3;\n",
        )
        .unwrap();
        let out = std::process::Command::new("cc")
            .current_dir(&dir)
            .args(["-c", "-O1", "-o", "a.o", "a.c"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let data = std::fs::read(dir.join("a.o")).unwrap();
        let (new, n) = prefix_defined_globals(data, "__p_").unwrap();
        std::fs::write(dir.join("b.o"), &new).unwrap();
        let nm = std::process::Command::new("nm")
            .current_dir(&dir)
            .arg("b.o")
            .output()
            .unwrap();
        let nm = String::from_utf8_lossy(&nm.stdout).to_string();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(n, 2, "{nm}");
        assert!(nm.contains(" T __p_schedule"), "{nm}");
        assert!(nm.contains(" D __p_runqueues"), "{nm}");
        assert!(nm.contains(" U wake_up_process"), "{nm}");
        assert!(!nm.contains("__p_helper"), "{nm}");
        assert!(!nm.contains("__p_wake_up_process"), "{nm}");
    }
}
