// SPDX-License-Identifier: GPL-2.0

//! The layout of one struct or union as DWARF describes it: its size and
//! every member's name, offset, size and type name.  Members of anonymous
//! structs and unions are part of the enclosing layout (C11 reaches them by
//! name); named struct and union types held by value are listed, to be
//! compared on their own.

use std::collections::BTreeSet;

use anyhow::{
    bail,
    Context,
    Result, //
};
use gimli::{
    AttributeValue,
    DebuggingInformationEntry,
    DwTag,
    EndianSlice,
    LittleEndian,
    UnitOffset, //
};

pub type R<'a> = EndianSlice<'a, LittleEndian>;
type Die<'abbrev, 'unit, 'a> = DebuggingInformationEntry<'abbrev, 'unit, R<'a>>;

/// Deeper type chains than this are malformed (C types do not nest so).
const MAX_DEPTH: usize = 32;

/// One member of a layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// `name`, or `member.name` inside a named member of anonymous type.
    pub path: String,
    /// Byte offset from the start of the outermost type.
    pub offset: u64,
    /// For bit-fields: bit offset from the start of the outermost type,
    /// and width.
    pub bits: Option<(u64, u64)>,
    /// Byte size of the member's type (`None`: DWARF does not say).
    pub size: Option<u64>,
    /// The member's type as C spells it (`u64`, `struct cfs_rq *`, ...).
    pub ty: String,
}

/// A complete struct or union.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// `DW_AT_byte_size`.
    pub size: Option<u64>,
    /// Members, anonymous members flattened, in declaration order.
    pub fields: Vec<Field>,
    /// Named struct and union types held by value (directly or as array
    /// elements), e.g. `struct cfs_rq` in `struct rq`.
    pub embeds: BTreeSet<String>,
}

/// A unit and the DWARF it belongs to.
pub struct Cx<'d, 'a> {
    pub dwarf: &'d gimli::Dwarf<R<'a>>,
    pub unit: &'d gimli::Unit<R<'a>>,
}

/// `struct NAME` / `union NAME` for a struct or union DIE, `None` for other
/// tags and for anonymous types.
pub fn tagged_name(cx: &Cx<'_, '_>, die: &Die<'_, '_, '_>) -> Option<String> {
    let kw = keyword(die.tag())?;
    Some(format!("{kw} {}", name(cx, die)?))
}

fn keyword(tag: DwTag) -> Option<&'static str> {
    match tag {
        gimli::DW_TAG_structure_type => Some("struct"),
        gimli::DW_TAG_union_type => Some("union"),
        gimli::DW_TAG_enumeration_type => Some("enum"),
        _ => None,
    }
}

/// `DW_AT_name` of a DIE.
pub fn name(cx: &Cx<'_, '_>, die: &Die<'_, '_, '_>) -> Option<String> {
    let v = die.attr_value(gimli::DW_AT_name).ok()??;
    let s = cx.dwarf.attr_string(cx.unit, v).ok()?;
    Some(s.to_string_lossy().into_owned())
}

fn udata(die: &Die<'_, '_, '_>, at: gimli::DwAt) -> Option<u64> {
    die.attr_value(at).ok()??.udata_value()
}

fn type_ref(die: &Die<'_, '_, '_>) -> Option<UnitOffset> {
    match die.attr_value(gimli::DW_AT_type).ok()?? {
        AttributeValue::UnitRef(o) => Some(o),
        _ => None,
    }
}

/// The layout of the struct or union at `off`.
pub fn layout(cx: &Cx<'_, '_>, off: UnitOffset) -> Result<Layout> {
    let die = cx.unit.entry(off)?;
    let mut out = Layout {
        size: udata(&die, gimli::DW_AT_byte_size),
        ..Default::default()
    };
    members(cx, off, 0, "", &mut out, 0)?;
    Ok(out)
}

/// Append the members of the struct or union at `off`, placed at byte
/// `base` of the outermost type, with `prefix` before their names.
fn members(
    cx: &Cx<'_, '_>,
    off: UnitOffset,
    base: u64,
    prefix: &str,
    out: &mut Layout,
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH {
        bail!("anonymous members nested too deep at {off:?}");
    }
    let mut tree = cx.unit.entries_tree(Some(off))?;
    let mut children = tree.root()?.children();
    while let Some(child) = children.next()? {
        let m = child.entry();
        if m.tag() != gimli::DW_TAG_member {
            continue;
        }
        let own = name(cx, m);
        let (offset, bits) = member_offset(m, base);
        let ty = type_ref(m);
        let path = match &own {
            Some(n) if prefix.is_empty() => n.clone(),
            Some(n) => format!("{prefix}.{n}"),
            None => prefix.to_string(),
        };
        if own.is_some() {
            out.fields.push(Field {
                path: path.clone(),
                offset,
                bits,
                size: ty.and_then(|t| type_size(cx, t, 0)),
                ty: ty.map_or(Ok("void".into()), |t| type_name(cx, t, 0))?,
            });
        }
        let Some(ty) = ty else { continue };
        let (inner, in_array) = element(cx, ty)?;
        let idie = cx.unit.entry(inner)?;
        if !matches!(
            idie.tag(),
            gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type
        ) {
            continue;
        }
        match tagged_name(cx, &idie) {
            Some(n) => {
                out.embeds.insert(n);
            }
            None => {
                let p = if in_array { format!("{path}[]") } else { path };
                members(cx, inner, offset, &p, out, depth + 1)?;
            }
        }
    }
    Ok(())
}

/// Byte offset (and bit position for bit-fields) of a member placed in a
/// type that starts at byte `base` of the outermost one.
fn member_offset(m: &Die<'_, '_, '_>, base: u64) -> (u64, Option<(u64, u64)>) {
    let width = udata(m, gimli::DW_AT_bit_size);
    if let Some(bit) = udata(m, gimli::DW_AT_data_bit_offset) {
        let abs = base * 8 + bit;
        return (abs / 8, width.map(|w| (abs, w)));
    }
    let loc = match m.attr_value(gimli::DW_AT_data_member_location) {
        Ok(Some(AttributeValue::Exprloc(e))) => plus_uconst(e),
        Ok(Some(v)) => v.udata_value().unwrap_or(0),
        _ => 0, // union members
    };
    // DWARF 2/3 bit-fields: DW_AT_bit_offset counts from the storage
    // unit's most significant bit; kept as DWARF gives it.
    let old = udata(m, gimli::DW_AT_bit_offset);
    (base + loc, width.map(|w| (old.unwrap_or(0), w)))
}

/// The constant of a `DW_OP_plus_uconst N` member location.
fn plus_uconst(e: gimli::Expression<R<'_>>) -> u64 {
    let mut r = e.0;
    match gimli::Reader::read_u8(&mut r) {
        Ok(0x23) => gimli::Reader::read_uleb128(&mut r).unwrap_or(0),
        _ => 0,
    }
}

/// Skip typedefs, qualifiers and arrays: the type an object of `off` is
/// made of, and whether an array was skipped.
fn element(cx: &Cx<'_, '_>, mut off: UnitOffset) -> Result<(UnitOffset, bool)> {
    let mut in_array = false;
    for _ in 0..MAX_DEPTH {
        let die = cx.unit.entry(off)?;
        match die.tag() {
            gimli::DW_TAG_typedef
            | gimli::DW_TAG_const_type
            | gimli::DW_TAG_volatile_type
            | gimli::DW_TAG_atomic_type
            | gimli::DW_TAG_array_type => {
                in_array |= die.tag() == gimli::DW_TAG_array_type;
                match type_ref(&die) {
                    Some(t) => off = t,
                    None => return Ok((off, in_array)),
                }
            }
            _ => return Ok((off, in_array)),
        }
    }
    bail!("type chain too long at {off:?}")
}

/// The type at `off` as C spells it, without expanding named types.
pub fn type_name(cx: &Cx<'_, '_>, off: UnitOffset, depth: usize) -> Result<String> {
    if depth > MAX_DEPTH {
        bail!("type chain too long at {off:?}");
    }
    let die = cx.unit.entry(off)?;
    let inner = |d: &Die<'_, '_, '_>| -> Result<String> {
        type_ref(d).map_or(Ok("void".into()), |t| type_name(cx, t, depth + 1))
    };
    let tag = die.tag();
    Ok(match tag {
        gimli::DW_TAG_base_type | gimli::DW_TAG_typedef => {
            name(cx, &die).context("unnamed base type or typedef")?
        }
        gimli::DW_TAG_structure_type
        | gimli::DW_TAG_union_type
        | gimli::DW_TAG_enumeration_type => {
            let kw = keyword(tag).unwrap_or("?");
            match name(cx, &die) {
                Some(n) => format!("{kw} {n}"),
                None => format!("{kw} {{...}}"),
            }
        }
        gimli::DW_TAG_pointer_type => format!("{} *", inner(&die)?),
        gimli::DW_TAG_const_type => format!("const {}", inner(&die)?),
        gimli::DW_TAG_volatile_type => format!("volatile {}", inner(&die)?),
        gimli::DW_TAG_restrict_type => format!("restrict {}", inner(&die)?),
        gimli::DW_TAG_atomic_type => format!("_Atomic {}", inner(&die)?),
        gimli::DW_TAG_array_type => {
            let dims: String = array_dims(cx, off)?
                .iter()
                .map(|d| d.map_or("[]".into(), |n| format!("[{n}]")))
                .collect();
            format!("{}{dims}", inner(&die)?)
        }
        gimli::DW_TAG_subroutine_type => {
            format!("{} ({})", inner(&die)?, params(cx, off, depth)?)
        }
        t => format!("<{t}>"),
    })
}

/// The parameter list of a function type.
fn params(cx: &Cx<'_, '_>, off: UnitOffset, depth: usize) -> Result<String> {
    let mut out = Vec::new();
    let mut tree = cx.unit.entries_tree(Some(off))?;
    let mut children = tree.root()?.children();
    while let Some(child) = children.next()? {
        let p = child.entry();
        match p.tag() {
            gimli::DW_TAG_formal_parameter => {
                out.push(type_ref(p).map_or(Ok("void".into()), |t| type_name(cx, t, depth + 1))?)
            }
            gimli::DW_TAG_unspecified_parameters => out.push("...".into()),
            _ => {}
        }
    }
    Ok(out.join(", "))
}

/// Element counts of an array type, outermost first (`None`: no bound, a
/// flexible array member).
fn array_dims(cx: &Cx<'_, '_>, off: UnitOffset) -> Result<Vec<Option<u64>>> {
    let mut out = Vec::new();
    let mut tree = cx.unit.entries_tree(Some(off))?;
    let mut children = tree.root()?.children();
    while let Some(child) = children.next()? {
        let s = child.entry();
        if s.tag() != gimli::DW_TAG_subrange_type {
            continue;
        }
        let count = udata(s, gimli::DW_AT_count).or_else(|| {
            match s.attr_value(gimli::DW_AT_upper_bound).ok()?? {
                AttributeValue::Sdata(n) if n < 0 => None,
                v => v.udata_value().map(|n| n + 1),
            }
        });
        out.push(count);
    }
    Ok(out)
}

/// Byte size of the type at `off`, when DWARF gives or implies it.
pub fn type_size(cx: &Cx<'_, '_>, off: UnitOffset, depth: usize) -> Option<u64> {
    if depth > MAX_DEPTH {
        return None;
    }
    let die = cx.unit.entry(off).ok()?;
    if let Some(n) = udata(&die, gimli::DW_AT_byte_size) {
        return Some(n);
    }
    match die.tag() {
        gimli::DW_TAG_pointer_type => Some(u64::from(cx.unit.encoding().address_size)),
        gimli::DW_TAG_typedef
        | gimli::DW_TAG_const_type
        | gimli::DW_TAG_volatile_type
        | gimli::DW_TAG_restrict_type
        | gimli::DW_TAG_atomic_type => type_size(cx, type_ref(&die)?, depth + 1),
        gimli::DW_TAG_array_type => {
            let elem = type_size(cx, type_ref(&die)?, depth + 1)?;
            let dims = array_dims(cx, off).ok()?;
            dims.iter().try_fold(elem, |n, d| Some(n * d.unwrap_or(0)))
        }
        _ => None,
    }
}
