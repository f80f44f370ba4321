// SPDX-License-Identifier: GPL-2.0

//! The boundary config (TOML, `boundary/linux-<version>.toml`).

use anyhow::{
    ensure,
    Result, //
};
use serde::Deserialize;

use super::algo::Boundary;

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
}

/// Parse a boundary config.
pub fn parse(text: &str) -> Result<Boundary> {
    let raw: Raw = toml::from_str(text)?;
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
        let b = parse(include_str!("../../../../boundary/linux-7.3.toml")).unwrap();
        assert!(b.files.contains("kernel/sched/core.c"));
        assert!(!b.files.iter().any(|f| f.contains("/ext/")));
        assert!(b.interfaces.contains("__schedule"));
        assert!(b.interface_prefixes.iter().any(|p| p == "__x64_sys_"));
        assert!(b.stay_in_vmlinux.contains("schedule"));
        assert!(b.shared_types.contains("task_struct"));
    }

    #[test]
    fn rejects_unknown_keys_and_empty_files() {
        assert!(parse("files = [\"a.c\"]\nbogus = 1\n").is_err());
        assert!(parse("files = []\n").is_err());
    }
}
