// SPDX-License-Identifier: GPL-2.0

//! plugsched-rs: live update of the Linux scheduler by loading a module.
//!
//! Crate root of `plugsched.ko`.  Loading the module makes its scheduler
//! (the extracted `kernel/sched` of the target kernel, with the changes of
//! `sched-changes/`) the live one; unloading it rolls back to the vmlinux
//! scheduler.  `/sys/kernel/plugsched/` (C shims of `c_shims/sysfs.c`, values
//! formatted here in Rust) shows the state and controls it.

use kernel::prelude::*;

mod bindings;
mod engine;
mod kapi;
mod live;
pub mod pcore;
mod selftest;
mod shim;
mod state;

#[path = "../tests-kunit/engine.rs"]
mod kunit_engine;
#[path = "../tests-kunit/klp.rs"]
mod kunit_klp;
#[path = "../tests-kunit/live.rs"]
mod kunit_live;
#[path = "../tests-kunit/skeleton.rs"]
mod kunit_skeleton;
#[cfg(CONFIG_KUNIT = "y")]
#[path = "../tests-kunit/support.rs"]
mod kunit_support;

module! {
    type: Plugsched,
    name: "plugsched",
    authors: ["plugsched-rs developers"],
    description: "Live update of the Linux scheduler",
    license: "GPL",
    params: {
        enable: bool {
            default: true,
            description: "Make the module's scheduler live at load (0: load only; see /sys/kernel/plugsched/enable)",
        },
    },
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
        live::init_lock();
        let sysfs = shim::Sysfs::create()?;
        pr_info!(
            "loaded; extracted scheduler: {} functions in the manifest\n",
            kapi::manifest_len()
        );
        if kapi::manifest_len() == 0 {
            pr_info!("this build has no extracted scheduler: the vmlinux scheduler stays live\n");
        } else {
            // Load = upgrade: a refused upgrade fails the load (and frees
            // the prepared plan, which lives in a static).
            let t0 = kapi::local_clock();
            let up = live::prepare().and_then(|()| {
                // (Part of the load time; `make bench` reports it.)
                pr_info!("plan: prepared in {} ns\n", kapi::local_clock() - t0);
                if module_parameters::enable.value() {
                    live::upgrade()
                } else {
                    Ok(())
                }
            });
            if let Err(e) = up {
                // No `enable` write may start an upgrade any more.
                drop(sysfs);
                live::shutdown();
                return Err(e);
            }
        }
        Ok(Plugsched { sysfs: Some(sysfs) })
    }
}

impl Drop for Plugsched {
    fn drop(&mut self) {
        // No new request can arrive once the sysfs files are gone.
        drop(self.sysfs.take());
        live::shutdown();
        selftest::shutdown();
        // The module's memory goes next: no RCU callback queued while it
        // was live may still be pending.
        kapi::rcu_barrier();
        pr_info!(
            "unloading, state {}\n",
            state::current().name().to_str().unwrap_or("?")
        );
    }
}
