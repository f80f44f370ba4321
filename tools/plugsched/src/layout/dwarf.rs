// SPDX-License-Identifier: GPL-2.0

//! The complete struct and union definitions of an ELF file's DWARF, per
//! compilation unit.  Relocatable objects (the module's `.o` files) carry
//! their DWARF unrelocated: string and section offsets are in the
//! relocations, which are applied first.

use std::borrow::Cow;
use std::path::Path;

use anyhow::{
    anyhow,
    bail,
    Context,
    Result, //
};
use gimli::{
    EndianSlice,
    LittleEndian,
    SectionId, //
};
use object::{
    Object,
    ObjectSection,
    ObjectSymbol,
    RelocationTarget, //
};

use super::types::{
    self,
    Cx,
    Layout, //
};
use crate::boundary::vmlinux::file_name;

/// One complete definition of a struct or union.
#[derive(Clone, Debug)]
pub struct Def {
    /// `struct rq`, `union foo`.
    pub name: String,
    /// The file that declares it (`DW_AT_decl_file`), as DWARF names it.
    pub file: String,
    /// The compilation unit it was found in.
    pub cu: String,
    pub layout: Layout,
}

/// Every complete, named struct and union defined at file scope in the
/// compilation units of `data` that `keep_cu` accepts (by unit name) and
/// whose name `wanted` accepts.
pub fn definitions(
    data: &[u8],
    keep_cu: &dyn Fn(&str) -> bool,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<Vec<Def>> {
    let obj = object::File::parse(data)?;
    let sections = gimli::DwarfSections::load(|id| load_section(&obj, id))?;
    let dwarf = sections.borrow(|s| EndianSlice::new(s, LittleEndian));
    let mut out = Vec::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        let cx = Cx {
            dwarf: &dwarf,
            unit: &unit,
        };
        let cu = unit
            .name
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !keep_cu(&cu) {
            continue;
        }
        unit_definitions(&cx, &cu, wanted, &mut out)
            .with_context(|| format!("compilation unit {cu}"))?;
    }
    Ok(out)
}

/// The definitions among the top-level DIEs of one unit.
fn unit_definitions(
    cx: &Cx<'_, '_>,
    cu: &str,
    wanted: &dyn Fn(&str) -> bool,
    out: &mut Vec<Def>,
) -> Result<()> {
    let mut tree = cx.unit.entries_tree(None)?;
    let mut children = tree.root()?.children();
    while let Some(child) = children.next()? {
        let e = child.entry();
        if !matches!(
            e.tag(),
            gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type
        ) || e.attr_value(gimli::DW_AT_declaration)?.is_some()
        {
            continue;
        }
        let Some(name) = types::tagged_name(cx, e) else {
            continue;
        };
        if !wanted(&name) {
            continue;
        }
        let file = decl_file(cx, e).unwrap_or_default();
        let layout = types::layout(cx, e.offset()).with_context(|| format!("{name} ({file})"))?;
        out.push(Def {
            name,
            file,
            cu: cu.to_string(),
            layout,
        });
    }
    Ok(())
}

fn decl_file(
    cx: &Cx<'_, '_>,
    e: &gimli::DebuggingInformationEntry<'_, '_, types::R<'_>>,
) -> Option<String> {
    let idx = match e.attr_value(gimli::DW_AT_decl_file).ok()?? {
        gimli::AttributeValue::FileIndex(i) => i,
        v => v.udata_value()?,
    };
    file_name(cx.dwarf, cx.unit, idx, "")
}

/// The bytes of one DWARF section: as they are in a linked file, with the
/// relocations applied in a relocatable one.
pub(crate) fn load_section<'d>(obj: &object::File<'d>, id: SectionId) -> Result<Cow<'d, [u8]>> {
    let Some(sec) = obj.section_by_name(id.name()) else {
        return Ok(Cow::Borrowed(&[]));
    };
    let compressed = sec.compressed_file_range()?.format != object::CompressionFormat::None;
    if compressed {
        bail!("{}: compressed DWARF is not supported", id.name());
    }
    let data = sec.data()?;
    if obj.kind() != object::ObjectKind::Relocatable {
        return Ok(Cow::Borrowed(data));
    }
    let mut buf = data.to_vec();
    relocate(obj, &sec, &mut buf).with_context(|| format!("relocations of {}", id.name()))?;
    Ok(Cow::Owned(buf))
}

/// Apply the absolute relocations of a relocatable file's debug section
/// (offsets into other debug sections, section-relative code addresses).
fn relocate(obj: &object::File<'_>, sec: &object::Section<'_, '_>, buf: &mut [u8]) -> Result<()> {
    for (off, rel) in sec.relocations() {
        let base = match rel.target() {
            RelocationTarget::Symbol(i) => obj.symbol_by_index(i)?.address(),
            RelocationTarget::Section(i) => obj.section_by_index(i)?.address(),
            RelocationTarget::Absolute => 0,
            _ => bail!("unsupported relocation target at {off:#x}"),
        };
        if rel.kind() != object::RelocationKind::Absolute {
            bail!("unsupported relocation {:?} at {off:#x}", rel.kind());
        }
        let implicit = if rel.has_implicit_addend() {
            read_le(buf, off, rel.size())?
        } else {
            0
        };
        let value = base
            .wrapping_add(rel.addend() as u64)
            .wrapping_add(implicit);
        write_le(buf, off, rel.size(), value)?;
    }
    Ok(())
}

fn field(buf: &mut [u8], off: u64, bits: u8) -> Result<&mut [u8]> {
    let n = usize::from(bits / 8);
    let at = usize::try_from(off)?;
    buf.get_mut(at..at + n)
        .ok_or_else(|| anyhow!("relocation at {off:#x} ({bits} bits) is outside the section"))
}

fn read_le(buf: &mut [u8], off: u64, bits: u8) -> Result<u64> {
    let b = field(buf, off, bits)?;
    Ok(b.iter().rev().fold(0, |v, &x| (v << 8) | u64::from(x)))
}

fn write_le(buf: &mut [u8], off: u64, bits: u8, value: u64) -> Result<()> {
    if !matches!(bits, 32 | 64) {
        bail!("unsupported {bits}-bit relocation at {off:#x}");
    }
    let b = field(buf, off, bits)?;
    b.copy_from_slice(&value.to_le_bytes()[..b.len()]);
    Ok(())
}

/// Read a file for [`definitions`] (mapped: vmlinux is large).
pub fn read(path: &Path) -> Result<memmap2::Mmap> {
    crate::file::map(path)
}
