// SPDX-License-Identifier: GPL-2.0

//! KUnit suite `plugsched_engine`: stack inspection and redirection on real
//! vmlinux functions (the `sched_get_priority_max/min` system calls).
//!
//! Those are scheduler functions: while the module's scheduler is live
//! (loaded with `enable=1`) their sites hold its jmps, and the tests that
//! switch them skip.  Plans, threads and kprobes are owned by the test
//! ([`TestOwned`]): a failed assertion ends the test at once, and KUnit's
//! cleanup then reverts and releases them.
//!
//! Only `#[test]` functions may use `assert!`/`assert_eq!` (KUnit replaces
//! them there); elsewhere they would panic the kernel.

#[kernel::macros::kunit_tests(plugsched_engine)]
mod tests {
    use kernel::prelude::*;

    use crate::{
        engine::{
            Direction,
            Inject,
            Mode,
            Pieces,
            Plan,
            Stats,
            Target, //
        },
        kapi, kunit_support as support, selftest,
        shim::{
            self,
            TestKprobe,
            TestOwned,
            TestThreads, //
        },
    };

    const SCHED_FIFO: usize = 1;

    /// (max, min) as seen by an indirect call of the vmlinux entry points.
    fn prio() -> (c_long, c_long) {
        match selftest::targets() {
            // SAFETY: `old` is the address of the vmlinux entry point of
            // `sched_get_priority_max`/`min`, which takes a `struct pt_regs
            // *` and only reads its first argument; redirected, it lands in
            // `selftest::prio_max`/`min`, which take the same.
            Ok(t) => unsafe {
                (
                    shim::test_call_syscall(t[0].old, SCHED_FIFO),
                    shim::test_call_syscall(t[1].old, SCHED_FIFO),
                )
            },
            Err(_) => (-1, -1),
        }
    }

    fn entry(addr: usize) -> [u8; 4] {
        let mut b = [0u8; 4];
        let _ = kapi::read_kernel(addr as u64, &mut b);
        b
    }

    /// A plan owned by the test: reverted (if applied) and freed at its end.
    fn test_plan(targets: &[Target], busy: &[(&'static CStr, usize)]) -> Result<TestOwned<Plan>> {
        TestOwned::new(Plan::new(targets, busy)?)
    }

    fn apply(plan: &mut Plan) -> Result<Stats> {
        plan.switch(Direction::Apply, Mode::Parallel, Inject::Nothing)
    }

    fn revert(plan: &mut Plan) -> Result<Stats> {
        plan.switch(Direction::Revert, Mode::Parallel, Inject::Nothing)
    }

    #[test]
    fn redirect_and_revert_syscalls() -> Result {
        if support::skip_while_live() {
            return Ok(());
        }
        let targets = selftest::targets()?;
        let mut plan = test_plan(&targets, &[])?;
        let hash0 = plan.text_hash()?;
        let heads: [[u8; 4]; 2] = [entry(targets[0].old), entry(targets[1].old)];
        assert_eq!(prio(), (99, 1));

        let s = apply(&mut plan)?;
        assert!(plan.is_applied());
        assert!(s.tasks > 0);
        assert_eq!(s.hits + s.unreliable, 0);
        // Through a function pointer to the old entry, i.e. an indirect
        // call that lands on its landing pad and falls into our redirect.
        assert_eq!(prio(), (selftest::NEW_MAX, selftest::NEW_MIN));
        // The landing pad (ENDBR or its seal, BTI) is intact.
        assert_eq!(entry(targets[0].old), heads[0]);
        assert_eq!(entry(targets[1].old), heads[1]);
        assert!(plan.text_hash()? != hash0);

        revert(&mut plan)?;
        assert!(!plan.is_applied());
        assert_eq!(prio(), (99, 1));
        assert_eq!(plan.text_hash()?, hash0);
        Ok(())
    }

    #[test]
    fn patch_site_is_after_landing_pad() -> Result {
        // Whichever scheduler is live: the redirect goes after the landing
        // pad of indirect calls, which stays.
        for t in selftest::targets()? {
            assert!(landing_pad(entry(t.old)));
        }
        Ok(())
    }

    /// Whether `head` is x86's ENDBR (or its seal).
    #[cfg(CONFIG_X86_64)]
    fn landing_pad(head: [u8; 4]) -> bool {
        use crate::pcore::x86;
        head == x86::ENDBR64 || head == x86::ENDBR_SEALED
    }

    /// Whether `head` is arm64's BTI.
    #[cfg(CONFIG_ARM64)]
    fn landing_pad(head: [u8; 4]) -> bool {
        crate::pcore::arm64::is_bti(u32::from_le_bytes(head))
    }

    #[test]
    fn parked_thread_blocks_until_it_leaves() -> Result {
        if support::skip_while_live() {
            return Ok(());
        }
        let targets = selftest::targets()?;
        let park = shim::test_park_addr();
        let mut plan = test_plan(&targets, &[(c"plugsched_test_park", park)])?;
        let hash0 = plan.text_hash()?;
        let threads = TestThreads::start(1, 1)?;
        let r = apply(&mut plan);
        drop(threads);
        assert_eq!(r.err(), Some(EBUSY));
        assert!(!plan.is_applied());
        assert_eq!(plan.text_hash()?, hash0);
        assert_eq!(prio(), (99, 1));

        // The thread has left: the same operation now succeeds.
        apply(&mut plan)?;
        assert_eq!(prio(), (selftest::NEW_MAX, selftest::NEW_MIN));
        revert(&mut plan)?;
        assert_eq!(plan.text_hash()?, hash0);
        Ok(())
    }

    #[test]
    fn parallel_inspection_agrees_with_serial_on_1000_threads() -> Result {
        if support::skip_while_live() {
            return Ok(());
        }
        let targets = selftest::targets()?;
        let park = shim::test_park_addr();
        let mut plan = test_plan(&targets, &[(c"plugsched_test_park", park)])?;
        let hash0 = plan.text_hash()?;
        // 1000 sleeping threads, one of them inside the checked range.
        let threads = TestThreads::start(1000, 1)?;
        let mut same = false;
        let mut last = (0, 0, 0, 0);
        // Other kernel threads may come or go between two runs: retry.
        for _ in 0..3 {
            let par = plan.switch_stats(Direction::Apply, Mode::Parallel);
            let ser = plan.switch_stats(Direction::Apply, Mode::Serial);
            last = (par.tasks, ser.tasks, par.hits, ser.hits);
            // The parallel mode counts the tasks of the check before its
            // rendezvous: tasks created or exited in between make the
            // counts differ by a few; the verdict must be the same.
            let close = par.tasks.abs_diff(ser.tasks) <= ser.tasks / 10;
            if close && par.hits == 1 && ser.hits == 1 {
                same = true;
                break;
            }
        }
        drop(threads);
        if !same {
            pr_err!(
                "parallel: {} tasks, {} hits; serial: {} tasks, {} hits\n",
                last.0,
                last.2,
                last.1,
                last.3
            );
        }
        assert!(same);
        assert!(last.0 > 1000);
        assert_eq!(last.2, 1);
        assert_eq!(plan.text_hash()?, hash0);
        Ok(())
    }

    #[test]
    fn injected_failures_leave_text_identical() -> Result {
        if support::skip_while_live() {
            return Ok(());
        }
        let targets = selftest::targets()?;
        let mut plan = test_plan(&targets, &[])?;
        let hash0 = plan.text_hash()?;
        let injected = [
            Inject::BeforeRendezvous,
            Inject::AfterStackCheck,
            Inject::MidPatch,
        ];
        for inject in injected {
            let r = plan.switch(Direction::Apply, Mode::Parallel, inject);
            assert_eq!(r.err(), Some(ECANCELED));
            // The failed attempt is what /sys/kernel/plugsched/ reports.
            let errno = i64::from(ECANCELED.to_errno());
            assert_eq!(crate::engine::last_switch_stat(b"last_result"), Some(errno));
            assert!(!plan.is_applied());
            assert_eq!(plan.text_hash()?, hash0);
            assert_eq!(prio(), (99, 1));
        }
        apply(&mut plan)?;
        let hash1 = plan.text_hash()?;
        for inject in injected {
            let r = plan.switch(Direction::Revert, Mode::Parallel, inject);
            assert_eq!(r.err(), Some(ECANCELED));
            assert!(plan.is_applied());
            assert_eq!(plan.text_hash()?, hash1);
            assert_eq!(prio(), (selftest::NEW_MAX, selftest::NEW_MIN));
        }
        revert(&mut plan)?;
        assert_eq!(plan.text_hash()?, hash0);
        Ok(())
    }

    #[test]
    fn hops_lead_where_their_sites_did() -> Result {
        if support::skip_while_live() {
            return Ok(());
        }
        let targets = selftest::targets()?;
        let mut plan = test_plan(&targets, &[])?;
        let hash0 = plan.text_hash()?;
        // Linked to their hops (a jmp each, so the text differs), the sites
        // of the untouched functions still run the vmlinux code ...
        let linked = plan.with_hops_linked(|| (prio(), plan.text_hash().ok()))?;
        let Some((prio_linked, hash_linked)) = linked else {
            shim::test_skip(c"no hops: the sites are written inside the rendezvous here");
            return Ok(());
        };
        assert_eq!(prio_linked, (99, 1));
        assert!(hash_linked.is_some() && hash_linked != Some(hash0));
        assert_eq!(plan.text_hash()?, hash0);
        // ... and once the module's code is live, the module's.
        apply(&mut plan)?;
        let hash1 = plan.text_hash()?;
        let linked = plan.with_hops_linked(prio)?;
        assert_eq!(linked, Some((selftest::NEW_MAX, selftest::NEW_MIN)));
        assert_eq!(plan.text_hash()?, hash1);
        revert(&mut plan)?;
        assert_eq!(plan.text_hash()?, hash0);
        Ok(())
    }

    #[test]
    fn late_breakpoint_at_a_site_is_resumed() -> Result {
        if support::skip_while_live() {
            return Ok(());
        }
        let targets = selftest::targets()?;
        let mut plan = test_plan(&targets, &[])?;
        let Some(site) = plan.hopped_site(0) else {
            shim::test_skip(c"no hops: the sites are written inside the rendezvous here");
            return Ok(());
        };
        // Untouched (ftrace's NOP): after the site; live: the new code.
        let untouched = shim::test_int3_at(site);
        apply(&mut plan)?;
        let live = shim::test_int3_at(site);
        revert(&mut plan)?;
        assert_eq!(untouched, Some(site + 5));
        assert!(targets.iter().any(|t| live == Some(t.new as u64)));
        // Anywhere else an INT3 is none of the guard's business.
        assert_eq!(shim::test_int3_at(site + 1), None);
        Ok(())
    }

    #[test]
    fn kprobed_function_is_refused() -> Result {
        if support::skip_while_live() {
            return Ok(());
        }
        let targets = selftest::targets()?;
        let mut plan = test_plan(&targets, &[])?;
        let hash0 = plan.text_hash()?;
        {
            let _kp = TestKprobe::arm(targets[0].old)?;
            let hash_kp = plan.text_hash()?;
            // The kprobe changed the site (ftrace call or int3).
            assert!(hash_kp != hash0);
            assert_eq!(apply(&mut plan).err(), Some(EBUSY));
            assert!(!plan.is_applied());
            assert_eq!(plan.text_hash()?, hash_kp);
        }
        // Once the kprobe is gone, the site is untouched again.
        assert_eq!(plan.text_hash()?, hash0);
        apply(&mut plan)?;
        revert(&mut plan)?;
        Ok(())
    }

    #[test]
    fn plan_of_the_extracted_scheduler() -> Result {
        // A plan is refused while the module's jmps sit on the sites.
        if support::skip_while_live() {
            return Ok(());
        }
        // The module carries the scheduler extracted by `plugsched init`
        // (the KUnit kernel is the one the analysis reads) and its manifest.
        let n = kapi::manifest_len();
        assert!(n > 100);
        let r = Plan::from_manifest(&[], Pieces::Listed);
        assert_eq!(r.as_ref().err().map(|e| e.to_errno()), None);
        let (plan, internal) = r?;
        let plan = TestOwned::new(plan)?;
        // The build's list of compiler pieces is what a walk of every
        // kernel symbol finds.
        let (walked, _) = Plan::from_manifest(&[], Pieces::Kallsyms)?;
        let walked = TestOwned::new(walked)?;
        assert!(plan.same_old_ranges(&walked));
        // Aliases (__ia32_sys_x = __x64_sys_x) count once.
        assert!(plan.target_count() + internal <= n);
        assert!(plan.target_count() + internal >= n - n / 10);
        assert!(plan.target_count() > 100);
        // The old functions (with all their pieces) form a valid table, and
        // every redirection site is untouched and patchable now (the
        // boundary keeps the one function whose entry is a jump-label site
        // in vmlinux; a refusal would be logged by name).  The survey
        // writes nothing.
        let hash = plan.text_hash()?;
        let (ok, refused) = plan.survey(Direction::Apply);
        assert_eq!(ok + refused, plan.target_count());
        assert_eq!(refused, 0);
        assert_eq!(plan.text_hash()?, hash);
        assert!(plan.old_range_count() > plan.target_count());
        Ok(())
    }

    #[test]
    fn foreign_patch_is_refused() -> Result {
        if support::skip_while_live() {
            return Ok(());
        }
        let targets = selftest::targets()?;
        let mut plan = test_plan(&targets, &[])?;
        let mut other = test_plan(&targets, &[])?;
        apply(&mut other)?;
        // Another patcher's jmp sits on the site: refused, nothing written.
        let hash1 = plan.text_hash()?;
        assert_eq!(apply(&mut plan).err(), Some(EBUSY));
        assert_eq!(plan.text_hash()?, hash1);
        revert(&mut other)?;
        apply(&mut plan)?;
        revert(&mut plan)?;
        Ok(())
    }
}
