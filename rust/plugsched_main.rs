// SPDX-License-Identifier: GPL-2.0

//! plugsched-rs: live update of the Linux scheduler by loading a module.
//!
//! Crate root of `plugsched.ko`.  The module currently provides its user
//! interface, `/sys/kernel/plugsched/`, implemented by the C shims of
//! `c_shims/sysfs.c` with the state formatted here in Rust.

use kernel::prelude::*;

mod engine;
mod kapi;
pub mod pcore;
mod selftest;
mod shim;
mod state;

#[path = "../tests-kunit/engine.rs"]
mod kunit_engine;
#[path = "../tests-kunit/klp.rs"]
mod kunit_klp;
#[path = "../tests-kunit/skeleton.rs"]
mod kunit_skeleton;

module! {
    type: Plugsched,
    name: "plugsched",
    authors: ["plugsched-rs developers"],
    description: "Live update of the Linux scheduler",
    license: "GPL",
}

struct Plugsched {
    sysfs: Option<shim::Sysfs>,
}

impl kernel::Module for Plugsched {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // Kernel symbols were bound by name at load; code built for another
        // build of the kernel must not run at all.
        let (ok, running) = shim::check_build_id(None);
        if ok.is_err() {
            let running = CStr::from_bytes_until_nul(&running).map_err(|_| EINVAL)?;
            pr_err!(
                "built for kernel build {:?}, but the running kernel is build {:?}: refusing to load\n",
                shim::built_for_build_id(),
                running
            );
            return Err(ENOEXEC);
        }
        selftest::init_lock();
        let sysfs = shim::Sysfs::create()?;
        pr_info!(
            "loaded, state {}; extracted scheduler: {} functions in the manifest\n",
            state::current().name(),
            kapi::manifest_len()
        );
        Ok(Plugsched { sysfs: Some(sysfs) })
    }
}

impl Drop for Plugsched {
    fn drop(&mut self) {
        // No new request can arrive once the sysfs files are gone.
        drop(self.sysfs.take());
        selftest::shutdown();
        pr_info!("unloading, state {}\n", state::current().name());
    }
}
