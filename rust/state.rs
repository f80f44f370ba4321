// SPDX-License-Identifier: GPL-2.0

//! The module's live-update state, as shown in `/sys/kernel/plugsched/state`.

use core::sync::atomic::{
    AtomicU8,
    Ordering, //
};

/// Which scheduler is live, from the module's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum State {
    /// The scheduler built into vmlinux is running.
    Off = 0,
    /// An upgrade to the module's scheduler is under way.
    Upgrading = 1,
    /// The module's scheduler is running.
    Live = 2,
    /// A rollback to the vmlinux scheduler is under way.
    RollingBack = 3,
}

impl State {
    /// The name shown to user space, one word.
    pub(crate) fn name(self) -> &'static str {
        match self {
            State::Off => "off",
            State::Upgrading => "upgrading",
            State::Live => "live",
            State::RollingBack => "rolling-back",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => State::Upgrading,
            2 => State::Live,
            3 => State::RollingBack,
            _ => State::Off,
        }
    }
}

static STATE: AtomicU8 = AtomicU8::new(State::Off as u8);

/// The current state.
pub(crate) fn current() -> State {
    State::from_u8(STATE.load(Ordering::Acquire))
}

/// Enter state `s` (only the live-update controller, under its lock).
pub(crate) fn set(s: State) {
    STATE.store(s as u8, Ordering::Release);
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
