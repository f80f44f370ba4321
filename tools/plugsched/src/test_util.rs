// SPDX-License-Identifier: GPL-2.0

//! What the host tests that compile C snippets share: a scratch directory
//! per test, and running gcc or binutils in it.

use std::path::{
    Path,
    PathBuf, //
};
use std::process::Command;

/// A scratch directory of one test, empty when made and removed when
/// dropped.  Tests run in parallel: its name has the tool's and the
/// test's, and the process id.
pub struct Scratch(PathBuf);

impl Scratch {
    /// `plugsched-<tool>-<test>-<pid>` in the temporary directory.
    pub fn new(tool: &str, test: &str) -> Self {
        let p =
            std::env::temp_dir().join(format!("plugsched-{tool}-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `p` inside the directory.
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }

    /// Write `(path, text)` files below the directory, with their folders.
    pub fn write(&self, files: &[(&str, &str)]) {
        write(&self.0, files);
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Write `(path, text)` files below `root`, with their folders.
pub fn write(root: &Path, files: &[(&str, &str)]) {
    for (p, text) in files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// Run `cmd args` in `dir` and return its standard output; a failure
/// fails the test with the command and its messages.
pub fn run(dir: &Path, cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run gcc in `dir` with `args`, as [`run`].
pub fn gcc(dir: &Path, args: &[&str]) {
    run(dir, "gcc", args);
}
