// SPDX-License-Identifier: GPL-2.0

//! KUnit suite `plugsched_klp`: references to non-exported vmlinux symbols,
//! bound by the module loader through klp relocations, point where kallsyms
//! says the symbols are.

#[kernel::macros::kunit_tests(plugsched_klp)]
mod tests {
    use kernel::bindings;

    use crate::shim;

    #[test]
    fn non_exported_function_is_callable() {
        // `kallsyms_lookup_name` itself is not exported: calling it at all
        // proves the binding; it must agree with the exported `schedule`.
        let schedule = bindings::schedule as *const () as usize;
        assert_eq!(shim::ksym_lookup(c"schedule"), schedule);
        assert_eq!(shim::ksym_lookup(c"plugsched_no_such_symbol"), 0);
    }

    #[test]
    fn non_exported_data_is_bound_to_its_address() {
        let addr = shim::text_mutex_addr();
        assert!(addr != 0);
        assert_eq!(shim::ksym_lookup(c"text_mutex"), addr);
    }
}
