// SPDX-License-Identifier: GPL-2.0

//! A development tree (`plugsched dev`): the extracted scheduler of one
//! target kernel in a git repository whose first commit, tagged
//! [`BASE_TAG`], is the unmodified extraction.  What it was made from is
//! kept in its git config (`plugsched.target`, `plugsched.kdir`,
//! `plugsched.project`), outside its files.

use std::path::{
    Path,
    PathBuf, //
};

use anyhow::{
    bail,
    Context,
    Result, //
};

use super::project::git;
use crate::arch::Arch;

/// The tag of the unmodified extraction.
pub const BASE_TAG: &str = "plugsched-extracted";

/// The files of the tree a user edits; the rest is generated.
pub const EDITABLE: &str = "kernel/sched/";

/// Files of a tree that are not part of the extraction.
pub const NOT_EXTRACTED: &[&str] = &["README.plugsched", "plugsched.ko"];

/// An opened development tree.
#[derive(Debug)]
pub struct DevTree {
    /// Its directory.
    pub dir: PathBuf,
    /// The target kernel (`test`, `debian`, `arm64`).
    pub target: String,
    /// The kernel object tree it was extracted from.
    pub kdir: String,
}

impl DevTree {
    /// Open `dir`, made by `plugsched dev`.
    pub fn open(dir: &Path) -> Result<Self> {
        let config = |key: &str| git(dir, ["config", "--get", key]);
        let target = config("plugsched.target").with_context(|| {
            format!(
                "{} is not a development tree made by `plugsched dev`",
                dir.display()
            )
        })?;
        let kdir = config("plugsched.kdir")?;
        Ok(DevTree {
            dir: dir.to_path_buf(),
            target,
            kdir,
        })
    }

    /// The instruction set of the target kernel.
    pub fn arch(&self) -> Result<Arch> {
        target_arch(&self.target)
    }

    /// The extracted version of `file` (relative to the tree).
    pub fn extracted(&self, file: &str) -> Result<Option<String>> {
        let listed = git(&self.dir, ["ls-tree", "--name-only", BASE_TAG, "--", file])?;
        if listed.is_empty() {
            return Ok(None);
        }
        git(&self.dir, ["show", &format!("{BASE_TAG}:{file}")]).map(Some)
    }

    /// The files that differ from the extraction in the work tree
    /// (committed or not), with `A`/`M`/`D`; untracked files count as added.
    pub fn changed_files(&self) -> Result<Vec<(char, String)>> {
        let mut out = Vec::new();
        let diff = git(
            &self.dir,
            ["diff", "--name-status", "--no-renames", BASE_TAG],
        )?;
        for line in diff.lines() {
            let (status, file) = line.split_once('\t').unwrap_or((line, ""));
            out.push((status.chars().next().unwrap_or('M'), file.to_string()));
        }
        let untracked = git(&self.dir, ["ls-files", "--others", "--exclude-standard"])?;
        out.extend(untracked.lines().map(|f| ('A', f.to_string())));
        out.retain(|(_, f)| !NOT_EXTRACTED.contains(&f.as_str()));
        Ok(out)
    }

    /// Fail unless the target's kernel tree is still the one the tree was
    /// extracted from.
    pub fn check_kdir(&self, current: &str) -> Result<()> {
        if current != self.kdir {
            bail!(
                "{} was extracted from {}, but the {} kernel tree is now {}: export your \
                 commits (plugsched export), make a new tree with plugsched dev, and apply \
                 them there (git am)",
                self.dir.display(),
                self.kdir,
                self.target,
                current
            );
        }
        Ok(())
    }
}

/// The instruction set of target kernel `target` (as `scripts/kernel.sh`
/// names them: `test` and `debian` are x86_64, `arm64` is arm64).
pub fn target_arch(target: &str) -> Result<Arch> {
    match target {
        "test" | "debian" => Ok(Arch::X86_64),
        "arm64" => Ok(Arch::Aarch64),
        t => bail!("unknown target kernel {t} (test, debian or arm64)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_targets_instruction_sets() {
        assert_eq!(target_arch("test").unwrap(), Arch::X86_64);
        assert_eq!(target_arch("debian").unwrap(), Arch::X86_64);
        assert_eq!(target_arch("arm64").unwrap(), Arch::Aarch64);
        assert!(target_arch("riscv").is_err());
    }
}
