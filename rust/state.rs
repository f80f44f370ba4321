// SPDX-License-Identifier: GPL-2.0

//! The module's live-update state, as shown in `/sys/kernel/plugsched/state`.

/// Which scheduler is live, from the module's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum State {
    /// The module is loaded; the scheduler built into vmlinux is running.
    Idle = 0,
}

impl State {
    /// The name shown to user space, one word.
    pub(crate) fn name(self) -> &'static str {
        match self {
            State::Idle => "idle",
        }
    }
}

/// The current state.  The vmlinux scheduler is the live one until the
/// live-update engine exists, so this is `Idle` whenever the module is loaded.
pub(crate) fn current() -> State {
    State::Idle
}

/// Write `"<name>\n"` for `s` into `buf`, truncated to its length.  Returns
/// the number of bytes written.
pub(crate) fn format(s: State, buf: &mut [u8]) -> usize {
    let mut n = 0;
    for &b in s.name().as_bytes().iter().chain(b"\n") {
        if n == buf.len() {
            break;
        }
        buf[n] = b;
        n += 1;
    }
    n
}
