// SPDX-License-Identifier: GPL-2.0

//! The static-branch sites of a kernel image (`__jump_table`): where each
//! `static_branch_*()` site is and where it jumps when its key flips, on
//! x86_64 and arm64 alike.  Code analyses follow both ways of a site,
//! whatever it holds in the file.

use std::collections::HashMap;

use anyhow::{
    Context as _,
    Result, //
};

/// The static-branch sites of the jump table (code -> target):
/// `struct jump_entry { s32 code; s32 target; long key; }`, relative, on
/// x86_64 and arm64 alike.  The table is a `__jump_table` section in an
/// object, and in vmlinux the bytes between `__start___jump_table` and
/// `__stop___jump_table` (inside `.rodata`).
pub fn read(obj: &object::File<'_>) -> Result<HashMap<u64, u64>> {
    use object::{
        Object,
        ObjectSection,
        ObjectSymbol, //
    };
    let addr_of = |n: &str| {
        obj.symbols()
            .find(|s| s.name() == Ok(n))
            .map(|s| s.address())
    };
    let (start, stop) = match obj.section_by_name("__jump_table") {
        Some(jt) => (jt.address(), jt.address() + jt.size()),
        None => match addr_of("__start___jump_table").zip(addr_of("__stop___jump_table")) {
            Some(r) => r,
            None => return Ok(HashMap::new()),
        },
    };
    let sec = obj
        .sections()
        .find(|s| s.address() <= start && stop <= s.address() + s.size())
        .context("no section holds the jump table")?;
    let data = sec.data()?;
    let from = (start - sec.address()) as usize;
    let table = data
        .get(from..from + (stop - start) as usize)
        .context("the jump table lies outside its section's bytes")?;
    let mut out = HashMap::new();
    for (k, e) in table.chunks_exact(16).enumerate() {
        let at = start + 16 * k as u64;
        let code = i32::from_le_bytes([e[0], e[1], e[2], e[3]]) as i64;
        let target = i32::from_le_bytes([e[4], e[5], e[6], e[7]]) as i64;
        out.insert(
            at.wrapping_add(code as u64),
            (at + 4).wrapping_add(target as u64),
        );
    }
    Ok(out)
}
