// SPDX-License-Identifier: GPL-2.0

//! Apply a plan's redirections to the object: one undefined symbol per
//! vmlinux name (klp-convert binds it), and each redirected relocation
//! pointed at it with its new addend.  Nothing else changes.

use std::collections::BTreeMap;

use anyhow::{
    Context,
    Result, //
};

use super::plan::Redirect;
use crate::elf::Elf;

/// The object's bytes with `redirects` applied.
pub fn apply(data: &[u8], redirects: &[Redirect]) -> Result<Vec<u8>> {
    if redirects.is_empty() {
        return Ok(data.to_vec());
    }
    let plain = crate::elf::without_addrsig(data)?;
    let mut elf = Elf::parse(&plain)?;
    let mut index_of: BTreeMap<&str, usize> = BTreeMap::new();
    for r in redirects {
        if !index_of.contains_key(r.symbol.as_str()) {
            let i = elf.add_undefined(r.symbol.clone());
            index_of.insert(&r.symbol, i);
        }
    }
    let mut by_sec: BTreeMap<usize, Vec<&Redirect>> = BTreeMap::new();
    for r in redirects {
        by_sec.entry(r.rela_sec).or_default().push(r);
    }
    let sections = elf.rela_sections();
    for (sec, list) in by_sec {
        let s = sections
            .iter()
            .find(|s| s.index() == sec)
            .with_context(|| format!("no relocation section {sec}"))?;
        let mut relas = elf.relas(s);
        for r in list {
            let e = relas
                .get_mut(r.index)
                .with_context(|| format!("relocation {} of section {sec} out of range", r.index))?;
            e.sym = index_of[r.symbol.as_str()] as u32;
            e.addend = r.addend;
        }
        elf.set_relas(s, &relas);
    }
    elf.write()
}
