// SPDX-License-Identifier: GPL-2.0

//! The plugsched-rs checkout the user's commands build with: its scripts
//! make the kernel trees, the extraction and the module.

use std::ffi::OsStr;
use std::path::{
    Path,
    PathBuf, //
};
use std::process::{
    Command,
    Stdio, //
};

use anyhow::{
    bail,
    Context,
    Result, //
};

/// Environment variable naming the checkout (else found from the binary).
pub const PROJECT_ENV: &str = "PLUGSCHED_PROJECT";

/// A plugsched-rs checkout.
#[derive(Clone, Debug)]
pub struct Project {
    /// Its top directory.
    pub top: PathBuf,
}

impl Project {
    /// The checkout given (`--project`), else `$PLUGSCHED_PROJECT`, else the
    /// one this binary was built in (`TOP/build/bin/plugsched` or
    /// `TOP/target/...`).
    pub fn find(given: Option<&Path>) -> Result<Self> {
        let from_env = std::env::var_os(PROJECT_ENV).map(PathBuf::from);
        let candidate = match given.map(Path::to_path_buf).or(from_env) {
            Some(p) => p,
            None => {
                let exe = std::env::current_exe().context("cannot find this program's path")?;
                exe.ancestors()
                    .find(|a| a.join("scripts/build-module.sh").is_file())
                    .map(Path::to_path_buf)
                    .unwrap_or(exe)
            }
        };
        if !candidate.join("scripts/build-module.sh").is_file() {
            bail!(
                "{} is not a plugsched-rs checkout (no scripts/build-module.sh); \
                 give the checkout with --project DIR or {PROJECT_ENV}=DIR",
                candidate.display()
            );
        }
        Ok(Project { top: candidate })
    }

    /// Run `scripts/NAME ARGS...` with `envs`, its progress on our stderr;
    /// returns its standard output.
    pub fn script<I, S>(&self, name: &str, args: I, envs: &[(&str, &OsStr)]) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let path = self.top.join("scripts").join(name);
        let mut cmd = Command::new(&path);
        // (From the checkout: the scripts run commands in the toolchain
        // root, where only the checkout and the cache are visible.)
        cmd.args(args)
            .current_dir(&self.top)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd
            .output()
            .with_context(|| format!("cannot run {}", path.display()))?;
        if !out.status.success() {
            bail!("{name} failed ({}); its messages are above", out.status);
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

/// Run `git -C DIR ARGS...`; returns its standard output, or fails with
/// its message.
pub fn git<I, S>(dir: &Path, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<S> = args.into_iter().collect();
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run git (install it: apt-get install git)")?;
    if !out.status.success() {
        bail!(
            "git {} in {}: {}",
            shown.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}
