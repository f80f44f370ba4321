// SPDX-License-Identifier: GPL-2.0

//! Tiny "kernels" for the tests, compiled and linked by gcc with the same
//! kind of code as vmlinux (-O2, no PIE, IBT, no libc).

use std::path::{
    Path,
    PathBuf, //
};
use std::process::Command;

/// A fresh directory for one test.
pub(super) fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plugsched-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.canonicalize().unwrap()
}

/// Write `sources` (path, text) under `dir` and link them into
/// `dir/out`, entry point `entry`, keeping the relocations if `relocs`.
pub(super) fn link(dir: &Path, sources: &[(&str, &str)], out: &str, relocs: bool) -> PathBuf {
    for (path, text) in sources {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let mut cmd = Command::new("gcc");
    cmd.current_dir(dir).args([
        "-O2",
        "-g",
        "-fno-pie",
        "-no-pie",
        "-nostdlib",
        "-fcf-protection=branch",
        "-Wl,-e,entry",
        "-o",
        out,
    ]);
    if relocs {
        cmd.arg("-Wl,--emit-relocs");
    }
    cmd.args(sources.iter().map(|(p, _)| p));
    let o = cmd.output().expect("gcc");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir.join(out)
}

/// [`link`] for arm64: clang and ld.lld, linked as the arm64 vmlinux is
/// (a PIE whose pointers in data are `R_AARCH64_RELATIVE` entries of
/// `.rela.dyn`, the words themselves left zero), with `--emit-relocs` if
/// `relocs`.
pub(super) fn link_arm64(dir: &Path, sources: &[(&str, &str)], out: &str, relocs: bool) -> PathBuf {
    let mut objs = Vec::new();
    for (path, text) in sources {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        let o = format!("{path}.o");
        let c = Command::new("clang")
            .current_dir(dir)
            .args([
                "--target=aarch64-linux-gnu",
                "-O2",
                "-g",
                "-fno-PIE",
                "-ffreestanding",
            ])
            .args(["-mbranch-protection=pac-ret+bti", "-c", path, "-o", &o])
            .output()
            .expect("clang");
        assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
        objs.push(o);
    }
    let mut cmd = Command::new("ld.lld");
    cmd.current_dir(dir).args([
        "-pie",
        "-z",
        "notext",
        "--no-apply-dynamic-relocs",
        "-e",
        "entry",
        "-o",
        out,
    ]);
    if relocs {
        cmd.arg("--emit-relocs");
    }
    cmd.args(&objs);
    let o = cmd.output().expect("ld.lld");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir.join(out)
}
