// SPDX-License-Identifier: GPL-2.0

//! KUnit suite `plugsched_live`: the whole-scheduler live update, in the
//! running kernel: upgrade to the module's scheduler with the runqueues
//! rebuilt, the state of every sleeping task afterwards, rollback to the
//! original text, and the failure paths after the runqueues were cleared.
//!
//! Every test starts from the vmlinux scheduler: loaded with `enable=1` (a
//! plain `insmod`), the module's scheduler is live when KUnit runs, and the
//! suite skips.  Every test ends with the vmlinux scheduler live, also when
//! an assertion fails: [`support::switching_test`] rolls back then, and the
//! threads, kprobes and ftrace users a test registers are released first.
//!
//! Only `#[test]` functions may use `assert!`/`assert_eq!` (KUnit replaces
//! them there); elsewhere they would panic the kernel.

#[kernel::macros::kunit_tests(plugsched_live)]
mod tests {
    use kernel::prelude::*;

    use crate::{
        engine::{
            self,
            Inject, //
        },
        kapi, kunit_support as support, live, selftest,
        shim::{
            self,
            TestFtrace,
            TestKprobe,
            TestThreads, //
        },
        state::{
            self,
            State, //
        },
    };

    /// Where the redirect at the entry of `func` jumps (x86: a `jmp` at
    /// the entry of a function without ENDBR such as `__schedule`).
    #[cfg(CONFIG_X86_64)]
    fn redirect_dest(func: u64) -> Option<u64> {
        use crate::pcore::x86::Site;
        let mut head = [0u8; 5];
        kapi::read_kernel(func, &mut head).ok()?;
        match Site::of(func, &head) {
            Site::Jmp(t) => Some(t),
            _ => None,
        }
    }

    /// Where the redirect at the entry of `func` jumps (arm64: a `B` or a
    /// veneer after its landing pad).
    #[cfg(CONFIG_ARM64)]
    fn redirect_dest(func: u64) -> Option<u64> {
        use crate::pcore::arm64::{Code, Site, PATCH_MAX};
        let mut head = [0u8; PATCH_MAX];
        kapi::read_kernel(func, &mut head).ok()?;
        match Site::of(func, &Code::from_bytes(&head)?) {
            Site::Jmp(t) | Site::Veneer(t) => Some(t),
            _ => None,
        }
    }

    fn stat(name: &str) -> i64 {
        live::stat(name.as_bytes())
            .or_else(|| engine::last_switch_stat(name.as_bytes()))
            .unwrap_or(-1)
    }

    #[test]
    fn upgrade_then_rollback() -> Result {
        let Some(_end) = support::switching_test()? else {
            return Ok(());
        };
        let generation = stat("generation");
        let r = live::upgrade();
        assert_eq!(r.err().map(|e| e.to_errno()), None);
        assert_eq!(state::current(), State::Live);
        assert_eq!(stat("generation"), generation + 1);
        assert_eq!(stat("last_result"), 0);
        // Hundreds of functions redirected, every queued task rebuilt.
        assert!(stat("last_functions") > 300);
        assert!(stat("last_rebuilt_tasks") > 0);
        assert!(stat("last_stop_machine_ns") >= stat("last_rebuild_ns"));
        let initial = live::initial_text_hash();
        assert!(initial.is_some());
        assert!(live::text_hash() != initial);
        // vmlinux's __schedule now starts with a jump into the module:
        // every context switch runs the module's __schedule, which
        // continues in vmlinux's (the split).  This thread has slept
        // through it above.
        let sched = kapi::ksym_lookup_pos(c"__schedule", 0);
        let dest = redirect_dest(sched as u64);
        assert!(dest.is_some());
        let dest = dest.unwrap_or(0);
        assert_eq!(kapi::ksym_size_offset(dest).map(|(_, off)| off), Some(0));
        let (base, size) = kapi::module_text();
        assert!(dest.wrapping_sub(base) < size);
        // The new scheduler runs this thread: it sleeps and wakes up.
        kernel::time::delay::fsleep(kernel::time::Delta::from_millis(50));
        // A second upgrade is refused and changes nothing.
        assert_eq!(live::upgrade().err(), Some(EALREADY));

        let r = live::rollback();
        assert_eq!(r.err().map(|e| e.to_errno()), None);
        assert_eq!(state::current(), State::Off);
        assert_eq!(live::text_hash(), initial);
        assert_eq!(stat("module_pointers"), 0);
        assert_eq!(live::rollback().err(), Some(EALREADY));
        Ok(())
    }

    #[test]
    fn sleeping_tasks_keep_no_module_frames() -> Result {
        let Some(_end) = support::switching_test()? else {
            return Ok(());
        };
        live::upgrade()?;
        kernel::time::delay::fsleep(kernel::time::Delta::from_millis(50));
        // Every task that slept or was preempted under the new scheduler
        // unwinds reliably and has no return address in the module (no
        // module __schedule or schedule-entry frame).
        let (checked, hits, unreliable) = shim::test_sleeper_stacks();
        assert!(checked > 10);
        assert_eq!(hits, 0);
        assert_eq!(unreliable, 0);
        assert_eq!(live::rollback().err().map(|e| e.to_errno()), None);
        Ok(())
    }

    #[test]
    fn rollback_waits_for_tasks_in_module_code() -> Result {
        let Some(_end) = support::switching_test()? else {
            return Ok(());
        };
        live::upgrade()?;
        // Kernel threads asleep in a function of the module that is no
        // redirected function (like a module-internal scheduler function):
        // the module must not go away under them.
        let threads = TestThreads::start(4, 4)?;
        let live_text = live::text_hash();
        assert_eq!(live::rollback().err(), Some(EBUSY));
        // Refused: the module's scheduler still runs, the text is as it was.
        assert_eq!(state::current(), State::Live);
        assert_eq!(live::text_hash(), live_text);
        drop(threads);
        assert_eq!(live::rollback().err().map(|e| e.to_errno()), None);
        assert_eq!(state::current(), State::Off);
        Ok(())
    }

    #[test]
    fn ftrace_leaves_redirected_functions_alone() -> Result {
        let Some(_end) = support::switching_test()? else {
            return Ok(());
        };
        let target = selftest::targets()?[0];
        live::upgrade()?;
        // A kprobe on a redirected traceable function goes through ftrace,
        // which must not touch the site holding our jmp (a WARN from
        // ftrace_bug() would fail the run).  The rollback then finds the
        // kprobe gone and the site as it left it.
        drop(TestKprobe::arm(target.old));
        assert_eq!(live::rollback().err().map(|e| e.to_errno()), None);
        assert_eq!(live::text_hash(), live::initial_text_hash());
        // Tracing works again afterwards.
        let armed = TestKprobe::arm(target.old);
        assert!(armed.is_ok());
        drop(armed);
        Ok(())
    }

    #[test]
    fn rollback_refused_while_ftrace_covers_a_redirected_function() -> Result {
        let Some(_end) = support::switching_test()? else {
            return Ok(());
        };
        let target = selftest::targets()?[0];
        live::upgrade()?;
        // Registered while the site is ours: ftrace never counted it on the
        // record, so handing the record back now would break ftrace's
        // accounting (and ftrace would shut itself down at unregister).
        let user = TestFtrace::arm(target.old)?;
        let live_text = live::text_hash();
        assert_eq!(live::rollback().err(), Some(EBUSY));
        assert_eq!(state::current(), State::Live);
        assert_eq!(live::text_hash(), live_text);
        drop(user);
        assert_eq!(live::rollback().err().map(|e| e.to_errno()), None);
        assert_eq!(live::text_hash(), live::initial_text_hash());
        Ok(())
    }

    #[test]
    fn failures_after_the_clear_rebuild_with_the_old_code() -> Result {
        let Some(_end) = support::switching_test()? else {
            return Ok(());
        };
        for inject in [Inject::AfterStackCheck, Inject::MidPatch] {
            let r = live::failing_upgrade(inject);
            assert_eq!(r.err(), Some(ECANCELED));
            assert_eq!(state::current(), State::Off);
            let initial = live::initial_text_hash();
            assert!(initial.is_some());
            // The runqueues were emptied and refilled by the vmlinux code,
            // the text is untouched, and the kernel keeps scheduling.
            assert!(stat("last_rebuilt_tasks") > 0);
            assert!(stat("last_clear_ns") > 0);
            assert_eq!(live::text_hash(), initial);
            kernel::time::delay::fsleep(kernel::time::Delta::from_millis(20));
        }
        // And a real upgrade still works afterwards.
        assert_eq!(live::upgrade().err().map(|e| e.to_errno()), None);
        assert_eq!(live::rollback().err().map(|e| e.to_errno()), None);
        assert_eq!(live::text_hash(), live::initial_text_hash());
        Ok(())
    }
}
