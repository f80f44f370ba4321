// SPDX-License-Identifier: GPL-2.0

//! What the KUnit suites share: leaving the vmlinux scheduler live at the
//! end of a test that switches, however the test ends.

use kernel::prelude::*;

use crate::{
    live,
    shim::TestOwned,
    state::{
        self,
        State, //
    },
};

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

/// What rolls back any upgrade the test leaves behind, when it ends,
/// however it ends.
pub(crate) fn rolls_back_at_end() -> Result<TestOwned<RollBackAtEnd>> {
    TestOwned::new(RollBackAtEnd(()))
}

/// KUnit suite `plugsched_test_support`: what a test owns is dropped when
/// the test ends, also when it ends without running destructors (a failed
/// assertion).
#[kernel::macros::kunit_tests(plugsched_test_support)]
mod tests {
    use core::sync::atomic::{
        AtomicUsize,
        Ordering, //
    };

    use kernel::prelude::*;

    use crate::shim::{
        self,
        TestOwned, //
    };

    /// The values dropped, in order, one decimal digit each.
    static DROPPED: AtomicUsize = AtomicUsize::new(0);

    struct Counted(usize);

    impl Drop for Counted {
        fn drop(&mut self) {
            let r = Ordering::Relaxed;
            let _ = DROPPED.fetch_update(r, r, |v| Some(v * 10 + self.0));
        }
    }

    #[test]
    fn what_a_test_owns_is_dropped_when_it_ends() -> Result {
        DROPPED.store(0, Ordering::Relaxed);
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
        assert_eq!(DROPPED.load(Ordering::Relaxed), 231);
        Ok(())
    }
}
