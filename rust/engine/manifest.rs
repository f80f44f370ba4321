// SPDX-License-Identifier: GPL-2.0

//! The manifest of the extracted scheduler, read and resolved once for a
//! plan: every entry with the vmlinux address of its function.
//!
//! The safe-point tables name their functions as the manifest does (name
//! and sympos); they are found here, by a scan of the entries read once,
//! instead of with a kallsyms look-up by name each (a binary search that
//! expands a compressed name at every step: most of the plan's time at
//! load, issue #12).  The entries themselves are found at the address the
//! build gave them, moved by KASLR and confirmed by a look-up by address.

use kernel::prelude::*;

use crate::kapi::{
    self,
    ManifestEntry, //
};

/// The manifest's entries, each with the address of its vmlinux function.
pub(super) struct Manifest {
    entries: KVec<(ManifestEntry, usize)>,
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
            let old = match kapi::ksym_at(e.name, e.link_addr) {
                0 => kapi::ksym_lookup_pos(e.name, e.sympos),
                at => at,
            };
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
        Ok(Manifest { entries })
    }

    /// Every entry with its vmlinux address, in the manifest's order.
    pub(super) fn entries(&self) -> impl Iterator<Item = &(ManifestEntry, usize)> {
        self.entries.iter()
    }

    /// The entry of the vmlinux function `name` (kallsyms position `pos`).
    pub(super) fn find(&self, name: &CStr, pos: u64) -> Option<&(ManifestEntry, usize)> {
        let name = name.to_bytes();
        self.entries
            .iter()
            .find(|(e, _)| e.sympos == pos && e.name.to_bytes() == name)
    }
}
