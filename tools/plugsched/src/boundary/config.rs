// SPDX-License-Identifier: GPL-2.0

//! The boundary config (TOML, `boundary/linux-<version>.toml`).

use anyhow::{
    ensure,
    Result, //
};
use std::collections::BTreeMap;

use serde::Deserialize;

use super::algo::Boundary;
use crate::arch::Arch;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    files: Vec<String>,
    #[serde(default)]
    interface_prefixes: Vec<String>,
    #[serde(default)]
    interfaces: Vec<String>,
    #[serde(default)]
    shared: Vec<String>,
    #[serde(default)]
    private: Vec<String>,
    #[serde(default)]
    stay_in_vmlinux: Vec<String>,
    #[serde(default)]
    shared_types: Vec<String>,
    #[serde(default)]
    module_private: Vec<String>,
    /// Additions for one instruction set (`[arch.arm64]`), where its code
    /// generation differs (e.g. what sits at a function's entry).
    #[serde(default)]
    arch: BTreeMap<String, RawArch>,
}

/// A config's additions for one instruction set.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawArch {
    #[serde(default)]
    stay_in_vmlinux: Vec<String>,
}

/// Parse a boundary config for vmlinux of instruction set `arch`.
pub fn parse(text: &str, arch: Arch) -> Result<Boundary> {
    let mut raw: Raw = toml::from_str(text)?;
    for name in raw.arch.keys() {
        ensure!(
            ["x86_64", "arm64"].contains(&name.as_str()),
            "unknown architecture [arch.{name}] (x86_64 or arm64)"
        );
    }
    let key = match arch {
        Arch::X86_64 => "x86_64",
        Arch::Aarch64 => "arm64",
    };
    if let Some(a) = raw.arch.remove(key) {
        raw.stay_in_vmlinux.extend(a.stay_in_vmlinux);
    }
    ensure!(
        !raw.files.is_empty(),
        "no in-boundary files: list them in `files`"
    );
    Ok(Boundary {
        files: raw.files.into_iter().collect(),
        interfaces: raw.interfaces.into_iter().collect(),
        interface_prefixes: raw.interface_prefixes,
        shared: raw.shared.into_iter().collect(),
        private: raw.private.into_iter().collect(),
        stay_in_vmlinux: raw.stay_in_vmlinux.into_iter().collect(),
        shared_types: raw.shared_types.into_iter().collect(),
        module_private: raw.module_private.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_repository_config() {
        let text = include_str!("../../../../boundary/linux-7.3.toml");
        let b = parse(text, Arch::X86_64).unwrap();
        assert!(b.files.contains("kernel/sched/core.c"));
        assert!(!b.files.iter().any(|f| f.contains("/ext/")));
        assert!(b.interfaces.contains("__schedule"));
        assert!(b.interface_prefixes.iter().any(|p| p == "__x64_sys_"));
        assert!(b.stay_in_vmlinux.contains("schedule"));
        assert!(b.shared_types.contains("task_struct"));
        assert!(!b
            .stay_in_vmlinux
            .contains("dynamic_preempt_schedule_notrace"));
        let a = parse(text, Arch::Aarch64).unwrap();
        assert!(a
            .stay_in_vmlinux
            .contains("dynamic_preempt_schedule_notrace"));
        assert!(a.stay_in_vmlinux.contains("schedule"));
    }

    #[test]
    fn rejects_unknown_keys_and_empty_files() {
        let x = Arch::X86_64;
        assert!(parse("files = [\"a.c\"]\nbogus = 1\n", x).is_err());
        assert!(parse("files = []\n", x).is_err());
        assert!(parse("files = [\"a.c\"]\n[arch.mips]\nstay_in_vmlinux = []\n", x).is_err());
    }
}
