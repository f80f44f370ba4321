// SPDX-License-Identifier: GPL-2.0

//! The manifest of the extracted scheduler, read and resolved once for a
//! plan: every entry with the vmlinux address of its function.
//!
//! The safe-point tables name their functions as the manifest does (name
//! and sympos); they are found here, by a binary search of the entries'
//! hashes, instead of with a kallsyms look-up by name each (a binary search
//! that expands a compressed name at every step: most of the plan's time at
//! load, issue #12) or a scan of the entries.  The entries themselves are
//! found at the address the build gave them, moved by KASLR and confirmed
//! by a look-up by address.

use kernel::prelude::*;

use crate::kapi::{
    self,
    ManifestEntry, //
};
use crate::pcore::{
    hash::Fnv64,
    ranges::heapsort_by, //
};

/// The manifest's entries, each with the address of its vmlinux function.
pub(super) struct Manifest {
    entries: KVec<(ManifestEntry, usize)>,
    /// The hash of each entry's name and sympos with its index, sorted by
    /// hash.
    by_hash: KVec<(u64, usize)>,
}

/// The hash under which [`Manifest::find`] looks for `name`, `pos`.
fn key(name: &[u8], pos: u64) -> u64 {
    let mut h = Fnv64::new();
    h.write(name);
    h.write(&pos.to_le_bytes());
    h.finish()
}

impl Manifest {
    /// Read every entry and find its function: at its address in the
    /// vmlinux built, moved by KASLR, if kallsyms confirms the name there
    /// (one look-up by address), else by name.  `ENOENT` (logged) if one
    /// is missing.
    pub(super) fn resolve() -> Result<Self> {
        let n = kapi::manifest_len();
        let mut entries = KVec::with_capacity(n, GFP_KERNEL)?;
        for i in 0..n {
            let e = kapi::manifest_get(i).ok_or(EINVAL)?;
            let old = kapi::ksym_find(e.name, e.sympos, e.link_addr);
            if old == 0 {
                pr_err!(
                    "manifest: {:?} (sympos {}) not found in vmlinux\n",
                    e.name,
                    e.sympos
                );
                return Err(ENOENT);
            }
            entries.push((e, old), GFP_KERNEL)?;
        }
        let mut by_hash = KVec::with_capacity(n, GFP_KERNEL)?;
        for (i, (e, _)) in entries.iter().enumerate() {
            by_hash.push((key(e.name.to_bytes(), e.sympos), i), GFP_KERNEL)?;
        }
        heapsort_by(&mut by_hash, |&(h, _)| h);
        Ok(Manifest { entries, by_hash })
    }

    /// Every entry with its vmlinux address, in the manifest's order.
    pub(super) fn entries(&self) -> impl Iterator<Item = &(ManifestEntry, usize)> {
        self.entries.iter()
    }

    /// For each entry, whether an entry before it has the same vmlinux
    /// function (an alias, e.g. `__ia32_sys_x` of `__x64_sys_x`).
    pub(super) fn aliases(&self) -> Result<KVec<bool>> {
        let n = self.entries.len();
        let mut by_addr = KVec::with_capacity(n, GFP_KERNEL)?;
        let mut alias = KVec::with_capacity(n, GFP_KERNEL)?;
        for (i, &(_, old)) in self.entries.iter().enumerate() {
            by_addr.push((old, i), GFP_KERNEL)?;
            alias.push(false, GFP_KERNEL)?;
        }
        heapsort_by(&mut by_addr, |&(a, _)| a as u64);
        // Within each run of one address, every entry but the first in
        // the manifest's order.
        for run in by_addr.chunk_by(|a, b| a.0 == b.0) {
            let first = run.iter().map(|&(_, i)| i).min().unwrap_or(0);
            for &(_, i) in run.iter().filter(|&&(_, i)| i != first) {
                if let Some(a) = alias.get_mut(i) {
                    *a = true;
                }
            }
        }
        Ok(alias)
    }

    /// The entry of the vmlinux function `name` (kallsyms position `pos`).
    pub(super) fn find(&self, name: &CStr, pos: u64) -> Option<&(ManifestEntry, usize)> {
        let name = name.to_bytes();
        let h = key(name, pos);
        let first = self.by_hash.partition_point(|&(k, _)| k < h);
        self.by_hash
            .get(first..)?
            .iter()
            .take_while(|&&(k, _)| k == h)
            .filter_map(|&(_, i)| self.entries.get(i))
            .find(|(e, _)| e.sympos == pos && e.name.to_bytes() == name)
    }
}
