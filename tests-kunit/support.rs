// SPDX-License-Identifier: GPL-2.0

//! What the KUnit suites share: skipping the tests that need the vmlinux
//! scheduler while the module's is live, and leaving the vmlinux scheduler
//! live at the end of a test that switches, however the test ends.
//!
//! A plain `insmod plugsched.ko` upgrades at load, before KUnit runs the
//! module's suites: every test must then pass, or skip naming why
//! (scenario `natural`).  Loaded with `enable=0` (scenario `basic`), every
//! test runs.

use kernel::prelude::*;

use crate::{
    live,
    shim::{
        self,
        TestOwned, //
    },
    state::{
        self,
        State, //
    },
};

/// The reason shown in the result line of a skipped test.
const LIVE: &CStr =
    c"the module scheduler is live (loaded with enable=1); load with enable=0 to run this test";

/// For a test that needs the vmlinux scheduler live: if the module's is
/// (or a switch is under way), mark the test skipped and return `true`
/// (the test returns at once).
pub(crate) fn skip_while_live() -> bool {
    let live = state::current() != State::Off;
    if live {
        shim::test_skip(LIVE);
    }
    live
}

/// Rolls back to the vmlinux scheduler, if the module's is live, when
/// dropped: at the end of the test that owns it.
pub(crate) struct RollBackAtEnd(());

impl Drop for RollBackAtEnd {
    fn drop(&mut self) {
        // After a failed assertion, the ended test thread may still be on
        // the task list for a moment, with module frames: retry.
        for _ in 0..20 {
            if state::current() != State::Live {
                return;
            }
            match live::rollback() {
                Ok(()) => {
                    pr_info!("test cleanup: rolled back the upgrade the test left\n");
                    return;
                }
                Err(e) => pr_err!("test cleanup: rollback refused ({:?}), retrying\n", e),
            }
            kernel::time::delay::fsleep(kernel::time::Delta::from_millis(100));
        }
        pr_err!("test cleanup: the module scheduler stays live\n");
    }
}

/// Start a test that switches schedulers: `None` if it is skipped (the
/// module's scheduler is live), else what rolls back any upgrade the test
/// leaves behind, when it ends, however it ends.
pub(crate) fn switching_test() -> Result<Option<TestOwned<RollBackAtEnd>>> {
    if skip_while_live() {
        return Ok(None);
    }
    TestOwned::new(RollBackAtEnd(())).map(Some)
}

/// KUnit suite `plugsched_test_support`: what a test owns is dropped when
/// the test ends, also when it ends without running destructors (a failed
/// assertion).
#[kernel::macros::kunit_tests(plugsched_test_support)]
mod tests {
    use kernel::{
        prelude::*,
        sync::atomic::{
            Atomic,
            Relaxed, //
        }, //
    };

    use crate::shim::{
        self,
        TestOwned, //
    };

    /// The values dropped, in order, one decimal digit each.
    static DROPPED: Atomic<usize> = Atomic::new(0);

    struct Counted(usize);

    impl Drop for Counted {
        fn drop(&mut self) {
            // One test at a time drops them, one after the other.
            DROPPED.store(DROPPED.load(Relaxed) * 10 + self.0, Relaxed);
        }
    }

    #[test]
    fn what_a_test_owns_is_dropped_when_it_ends() -> Result {
        DROPPED.store(0, Relaxed);
        shim::test_run_nested(|| {
            for n in 1..=3 {
                if let Ok(v) = TestOwned::new(Counted(n)) {
                    if n == 2 {
                        drop(v);
                    } else {
                        // What a failed assertion does: the test's thread
                        // ends, no destructor runs.
                        core::mem::forget(v);
                    }
                }
            }
        })?;
        // 2 when dropped, then 3 and 1 when the nested test ended, the last
        // owned first; none twice.
        assert_eq!(DROPPED.load(Relaxed), 231);
        Ok(())
    }
}
