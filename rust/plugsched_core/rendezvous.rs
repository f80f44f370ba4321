// SPDX-License-Identifier: GPL-2.0

//! An N-phase rendezvous of all CPUs inside one `stop_machine` call.
//!
//! Every participating CPU calls [`Rendezvous::run`] with its dense index.
//! Phases are separated by barriers: no CPU starts phase `p + 1` before every
//! CPU has finished phase `p`, and everything a CPU wrote before a barrier is
//! visible to every CPU after it (release on arrival, acquire on leaving).
//!
//! The first error of any phase on any CPU aborts the operation: it is
//! published before its CPU arrives at the barrier, so every CPU sees it
//! when it leaves that barrier, and every later phase runs with
//! [`Step::aborted`] set (so clean-up phases such as "restore the text" and
//! "serialise this CPU" still run, and ordinary phases do nothing).  All
//! CPUs pass every barrier whatever happens, so none is left spinning.
//!
//! Nothing here sleeps or allocates; the caller provides the per-CPU status
//! array beforehand.

use core::sync::atomic::{
    AtomicI32,
    AtomicU64,
    AtomicUsize,
    Ordering, //
};

/// Most phases one rendezvous can have.
pub const MAX_PHASES: usize = 8;

/// What a phase callback is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// Phase number, from 0.
    pub phase: usize,
    /// Dense index of this CPU among the participants.
    pub cpu: usize,
    /// An earlier phase (on any CPU) failed: only clean up.
    pub aborted: bool,
}

/// The first error of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Negative kernel error code.
    pub errno: i32,
    /// Phase it happened in.
    pub phase: usize,
    /// CPU (dense index) it happened on.
    pub cpu: usize,
}

/// Shared state of one rendezvous.
pub struct Rendezvous<'a> {
    ncpus: usize,
    nphases: usize,
    arrived: [AtomicUsize; MAX_PHASES],
    /// `stamps[0]`: when the first CPU entered; `stamps[p + 1]`: when the last CPU
    /// arrived at the barrier after phase `p`.
    stamps: [AtomicU64; MAX_PHASES + 1],
    error: AtomicI32,
    error_at: AtomicUsize,
    status: &'a [AtomicI32],
}

impl<'a> Rendezvous<'a> {
    /// A rendezvous of `status.len()` CPUs through `nphases` phases.
    /// Returns `None` for zero CPUs or more than [`MAX_PHASES`] phases.
    pub fn new(nphases: usize, status: &'a [AtomicI32]) -> Option<Self> {
        if status.is_empty() || nphases > MAX_PHASES {
            return None;
        }
        for s in status {
            s.store(0, Ordering::Relaxed);
        }
        Some(Rendezvous {
            ncpus: status.len(),
            nphases,
            arrived: Default::default(),
            // (The first entry is a minimum.)
            stamps: core::array::from_fn(|i| AtomicU64::new(if i == 0 { u64::MAX } else { 0 })),
            error: AtomicI32::new(0),
            error_at: AtomicUsize::new(0),
            status,
        })
    }

    /// Number of participating CPUs.
    pub fn ncpus(&self) -> usize {
        self.ncpus
    }

    fn fail(&self, step: Step, errno: i32) {
        let errno = if errno < 0 { errno } else { -1 };
        self.status[step.cpu].store(errno, Ordering::Relaxed);
        if self
            .error
            .compare_exchange(0, errno, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.error_at
                .store(step.phase * self.ncpus + step.cpu, Ordering::Release);
        }
    }

    /// Run all phases on CPU `cpu` (`0..ncpus`).  `phase` does the work of
    /// one step; `clock` reads a nanosecond clock; `relax` is called while
    /// spinning at a barrier.  Returns the operation's first failure, the
    /// same on every CPU.
    pub fn run(
        &self,
        cpu: usize,
        clock: impl Fn() -> u64,
        relax: impl Fn(),
        mut phase: impl FnMut(Step) -> Result<(), i32>,
    ) -> Result<(), Failure> {
        self.stamps[0].fetch_min(clock(), Ordering::Relaxed);
        for p in 0..self.nphases {
            let step = Step {
                phase: p,
                cpu,
                aborted: self.error.load(Ordering::Acquire) != 0,
            };
            if let Err(e) = phase(step) {
                // A clean-up step's failure is recorded too, but only the
                // first failure of the operation is reported.
                self.fail(step, e);
            }
            if self.arrived[p].fetch_add(1, Ordering::AcqRel) + 1 == self.ncpus {
                self.stamps[p + 1].store(clock(), Ordering::Release);
            }
            while self.arrived[p].load(Ordering::Acquire) < self.ncpus {
                relax();
            }
        }
        self.failure().map_or(Ok(()), Err)
    }

    /// The first failure, once the rendezvous is over (or `None`).
    pub fn failure(&self) -> Option<Failure> {
        let errno = self.error.load(Ordering::Acquire);
        if errno == 0 {
            return None;
        }
        let at = self.error_at.load(Ordering::Acquire);
        // `ncpus` is never 0 (see `new`); checked ops keep panics (and
        // their unwinding paths) out of code that runs in stop_machine.
        Some(Failure {
            errno,
            phase: at.checked_div(self.ncpus).unwrap_or(0),
            cpu: at.checked_rem(self.ncpus).unwrap_or(0),
        })
    }

    /// Status (0 or the first error) of CPU `cpu` after the rendezvous.
    pub fn cpu_status(&self, cpu: usize) -> i32 {
        self.status[cpu].load(Ordering::Relaxed)
    }

    /// When the first CPU entered and when the last CPU arrived after the
    /// last phase, in the clock of [`Rendezvous::run`].
    pub fn span(&self) -> (u64, u64) {
        (
            self.stamps[0].load(Ordering::Acquire),
            self.stamps[self.nphases].load(Ordering::Acquire),
        )
    }

    /// Nanoseconds phase `p` took, from the end of the previous phase (or
    /// the first CPU's entry) to the last CPU's arrival after it.
    pub fn phase_ns(&self, p: usize) -> u64 {
        let a = self.stamps[p].load(Ordering::Acquire);
        let b = self.stamps[p + 1].load(Ordering::Acquire);
        b.saturating_sub(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::sync::Arc;
    use std::thread;
    use std::time::Instant;
    use std::vec::Vec;

    /// Run a rendezvous with real threads as CPUs.  `fail` = (phase, cpu,
    /// errno) to inject.  Returns per-(cpu, phase) counts of non-aborted and
    /// aborted executions, and each CPU's result.
    #[allow(clippy::type_complexity)]
    fn simulate(
        ncpus: usize,
        nphases: usize,
        fail: Option<(usize, usize, i32)>,
    ) -> (Vec<Vec<(u32, u32)>>, Vec<Result<(), Failure>>, Vec<u64>) {
        let status: Arc<Vec<AtomicI32>> = Arc::new((0..ncpus).map(|_| AtomicI32::new(0)).collect());
        let counts: Arc<Vec<Vec<(AtomicU32, AtomicU32)>>> = Arc::new(
            (0..ncpus)
                .map(|_| (0..nphases).map(|_| Default::default()).collect())
                .collect(),
        );
        // Whether some CPU started phase p+1 while another had not finished p.
        let in_phase: Arc<Vec<AtomicUsize>> =
            Arc::new((0..nphases).map(|_| AtomicUsize::new(0)).collect());
        let done: Arc<Vec<AtomicUsize>> =
            Arc::new((0..nphases).map(|_| AtomicUsize::new(0)).collect());
        let t0 = Instant::now();
        let r = Rendezvous::new(nphases, &status).unwrap();
        let r = &r;
        let results = thread::scope(|s| {
            let handles: Vec<_> = (0..ncpus)
                .map(|cpu| {
                    let counts = counts.clone();
                    let in_phase = in_phase.clone();
                    let done = done.clone();
                    s.spawn(move || {
                        r.run(
                            cpu,
                            || t0.elapsed().as_nanos() as u64,
                            std::hint::spin_loop,
                            |st| {
                                if st.phase > 0 {
                                    assert_eq!(done[st.phase - 1].load(Ordering::SeqCst), ncpus);
                                }
                                in_phase[st.phase].fetch_add(1, Ordering::SeqCst);
                                let c = &counts[st.cpu][st.phase];
                                if st.aborted {
                                    c.1.fetch_add(1, Ordering::SeqCst);
                                } else {
                                    c.0.fetch_add(1, Ordering::SeqCst);
                                }
                                // Give other CPUs a chance to run ahead (they must not).
                                if st.cpu % 2 == 1 {
                                    thread::yield_now();
                                }
                                let res = match fail {
                                    Some((p, c, e)) if p == st.phase && c == st.cpu => Err(e),
                                    _ => Ok(()),
                                };
                                done[st.phase].fetch_add(1, Ordering::SeqCst);
                                res
                            },
                        )
                    })
                })
                .collect();
            let res: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let ns = (0..nphases).map(|p| r.phase_ns(p)).collect::<Vec<_>>();
            (res, ns)
        });
        let counts = counts
            .iter()
            .map(|c| {
                c.iter()
                    .map(|(a, b)| (a.load(Ordering::SeqCst), b.load(Ordering::SeqCst)))
                    .collect()
            })
            .collect();
        (counts, results.0, results.1)
    }

    #[test]
    fn all_phases_run_once_on_every_cpu() {
        for ncpus in [1, 2, 3, 8] {
            let (counts, res, ns) = simulate(ncpus, 5, None);
            assert!(res.iter().all(|r| r.is_ok()));
            for c in &counts {
                assert!(c.iter().all(|&x| x == (1, 0)), "{counts:?}");
            }
            assert_eq!(ns.len(), 5);
        }
    }

    #[test]
    fn an_error_aborts_later_phases_everywhere() {
        for (phase, cpu) in [(0, 0), (1, 2), (3, 3), (4, 1)] {
            let (counts, res, _) = simulate(4, 5, Some((phase, cpu, -16)));
            let want = Failure {
                errno: -16,
                phase,
                cpu,
            };
            assert!(res.iter().all(|r| *r == Err(want)), "{res:?}");
            for (c, per_cpu) in counts.iter().enumerate() {
                for (p, &x) in per_cpu.iter().enumerate() {
                    // Before the failing phase: normal; after it: clean-up
                    // only; in it, other CPUs may or may not have seen the
                    // error yet, but each ran the phase exactly once.
                    if p < phase || (p == phase && c == cpu) {
                        assert_eq!(x, (1, 0), "cpu {c} phase {p}: {counts:?}");
                    } else if p > phase {
                        assert_eq!(x, (0, 1), "cpu {c} phase {p}: {counts:?}");
                    } else {
                        assert_eq!(x.0 + x.1, 1, "cpu {c} phase {p}: {counts:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn first_error_wins_and_positive_codes_become_negative() {
        let status: Vec<AtomicI32> = (0..2).map(|_| AtomicI32::new(0)).collect();
        let r = Rendezvous::new(2, &status).unwrap();
        r.fail(
            Step {
                phase: 0,
                cpu: 1,
                aborted: false,
            },
            -5,
        );
        r.fail(
            Step {
                phase: 1,
                cpu: 0,
                aborted: true,
            },
            7,
        );
        assert_eq!(
            r.failure(),
            Some(Failure {
                errno: -5,
                phase: 0,
                cpu: 1
            })
        );
        assert_eq!(r.cpu_status(0), -1);
        assert_eq!(r.cpu_status(1), -5);
    }

    #[test]
    fn rejects_bad_shapes() {
        let none: [AtomicI32; 0] = [];
        assert!(Rendezvous::new(1, &none).is_none());
        let one = [AtomicI32::new(0)];
        assert!(Rendezvous::new(MAX_PHASES + 1, &one).is_none());
        assert!(Rendezvous::new(MAX_PHASES, &one).is_some());
    }

    #[test]
    fn times_run_from_the_first_cpu_in() {
        // CPU 1 enters at t=10, CPU 0 at t=25; each reads the clock once
        // on entry and once at the barrier's last arrival.
        let status = [AtomicI32::new(0), AtomicI32::new(0)];
        let r = Rendezvous::new(1, &status).unwrap();
        let r = &r;
        let clock = Arc::new(AtomicU64::new(10));
        thread::scope(|s| {
            let c1 = clock.clone();
            let cpu1 = s.spawn(move || r.run(1, || c1.load(Ordering::SeqCst), || {}, |_| Ok(())));
            while r.arrived[0].load(Ordering::SeqCst) == 0 {
                thread::yield_now();
            }
            clock.store(25, Ordering::SeqCst);
            let c0 = clock.clone();
            r.run(0, || c0.fetch_add(5, Ordering::SeqCst), || {}, |_| Ok(()))
                .unwrap();
            cpu1.join().unwrap().unwrap();
        });
        // Entered at 10 (CPU 1); the last arrival read 30.
        assert_eq!(r.span(), (10, 30));
        assert_eq!(r.phase_ns(0), 20);
    }
}
