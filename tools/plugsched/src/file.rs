// SPDX-License-Identifier: GPL-2.0

//! Reading input files.  A vmlinux with DWARF is about 600 MB: it is
//! mapped, not copied into memory.

use std::path::Path;

use anyhow::{
    Context,
    Result, //
};
use memmap2::Mmap;

/// Map `path` read-only.
pub fn map(path: &Path) -> Result<Mmap> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    // SAFETY: the mapping is read-only and the inputs (vmlinux, objects,
    // modules) are build outputs that nothing rewrites while a command
    // reads them; callers drop the mapping before writing to the file.
    unsafe { Mmap::map(&f) }.with_context(|| format!("cannot map {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_a_file_or_says_which_one_is_missing() {
        let p = std::env::temp_dir().join(format!("plugsched-file-{}", std::process::id()));
        std::fs::write(&p, b"\x7fELF").unwrap();
        assert_eq!(&map(&p).unwrap()[..], b"\x7fELF");
        std::fs::remove_file(&p).unwrap();
        let e = format!("{:#}", map(&p).unwrap_err());
        assert!(
            e.starts_with(&format!("cannot open {}", p.display())),
            "{e}"
        );
    }
}
