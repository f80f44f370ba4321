// SPDX-License-Identifier: GPL-2.0

//! KUnit suite `plugsched_skeleton`: the module's user interface, checked
//! through its sysfs nodes and the C-to-Rust callback.  (KUnit runs in a
//! kernel thread, which does not see user space's mounts; the `basic`
//! scenario reads the same files by path from user space.)
//!
//! Only `#[test]` functions may use `assert!`/`assert_eq!` (KUnit replaces
//! them there); elsewhere they would panic the kernel.

#[kernel::macros::kunit_tests(plugsched_skeleton)]
mod tests {
    use kernel::prelude::*;

    use crate::{
        shim,
        state, //
    };

    #[test]
    fn state_node_shows_the_state() {
        let mut buf = [0u8; 64];
        let r = shim::sysfs_read(c"state", &mut buf);
        assert_eq!(r.as_ref().err().map(|e| e.to_errno()), None);
        let n = r.unwrap_or(0);
        let name = state::current().name().to_bytes();
        assert_eq!(n, name.len() + 1);
        assert_eq!(&buf[..n.min(name.len())], name);
        assert_eq!(buf[name.len()], b'\n');
    }

    /// The value of the one-line sysfs file `name`, without its newline.
    fn sysfs_line<'a>(name: &CStr, buf: &'a mut [u8]) -> Result<&'a str> {
        let n = shim::sysfs_read(name, buf)?;
        let text = core::str::from_utf8(&buf[..n]).map_err(|_| EINVAL)?;
        text.strip_suffix('\n').ok_or(EINVAL)
    }

    #[test]
    fn release_nodes_name_matching_releases() -> Result {
        let (mut b1, mut b2, mut b3) = ([0u8; 128], [0u8; 128], [0u8; 128]);
        let built = sysfs_line(c"built_for_release", &mut b1)?;
        let running = sysfs_line(c"running_release", &mut b2)?;
        let id = sysfs_line(c"built_for_build_id", &mut b3)?;
        assert!(!built.is_empty());
        // vermagic made the loader accept us, so the releases must agree.
        assert_eq!(built, running);
        // One value per file: no second line.
        assert!(!built.contains('\n') && !running.contains('\n'));
        assert_eq!(id.len(), 40);
        Ok(())
    }

    #[test]
    fn build_id_is_checked() {
        // The module loaded, so the running kernel is the build it was made
        // for; any other build ID is refused.
        let (ok, running) = shim::check_build_id(None);
        assert_eq!(ok.err().map(|e| e.to_errno()), None);
        let hex = CStr::from_bytes_until_nul(&running).map(|c| c.to_bytes().len());
        assert_eq!(hex, Ok(40));
        let (other, _) = shim::check_build_id(Some(c"0123456789abcdef0123456789abcdef01234567"));
        assert_eq!(other.err(), Some(ENOEXEC));
        let (empty, _) = shim::check_build_id(Some(c""));
        assert_eq!(empty.err(), Some(ENOEXEC));
    }

    #[test]
    fn build_id_ending_in_zero_bytes_is_compared_whole() {
        let mut id = [0u8; shim::BUILD_ID_BYTES];
        for (i, b) in id.iter_mut().enumerate() {
            *b = 0x11 * (i as u8 % 15 + 1);
        }
        id[18] = 0;
        id[19] = 0;
        let same = c"112233445566778899aabbccddeeff1122330000";
        let (ok, hex) = shim::build_id_matches(Some(same), Some(&id));
        assert_eq!(ok.err().map(|e| e.to_errno()), None);
        assert_eq!(&hex[..40], same.to_bytes());
        // The zero bytes are compared like any other.
        let (last, _) =
            shim::build_id_matches(Some(c"112233445566778899aabbccddeeff1122330001"), Some(&id));
        assert_eq!(last.err(), Some(ENOEXEC));
        let (odd, _) = shim::build_id_matches(
            Some(c"112233445566778899aabbccddeeff11223300000"),
            Some(&id),
        );
        assert_eq!(odd.err(), Some(ENOEXEC));
        let (bad, _) =
            shim::build_id_matches(Some(c"112233445566778899aabbccddeeff11223300zz"), Some(&id));
        assert_eq!(bad.err(), Some(ENOEXEC));
    }

    #[test]
    fn missing_node_is_an_error() {
        let mut buf = [0u8; 8];
        let r = shim::sysfs_read(c"no-such-file", &mut buf);
        assert_eq!(r.err().map(|e| e.to_errno()), Some(-2));
    }

    #[test]
    fn state_callback_names_the_state() {
        let p = shim::plugsched_rs_state_name();
        assert!(!p.is_null());
        // SAFETY: The callback returns one of the static names of `State`.
        let name = unsafe { CStr::from_char_ptr(p) };
        assert_eq!(name, state::current().name());
        assert_eq!(state::State::RollingBack.name(), c"rolling-back");
    }

    #[test]
    fn stat_callback_knows_its_statistics() {
        let mut v = -1i64;
        // SAFETY: The names are NUL-terminated, `v` is valid for a write.
        let (ok, missing) = unsafe {
            (
                shim::plugsched_rs_stat(c"switches".as_char_ptr(), &mut v),
                shim::plugsched_rs_stat(c"no-such-stat".as_char_ptr(), &mut v),
            )
        };
        assert_eq!(ok, 0);
        assert!(v >= 0);
        assert_eq!(missing, ENOENT.to_errno());
    }
}
