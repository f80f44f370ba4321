// SPDX-License-Identifier: GPL-2.0
/*
 * Non-exported vmlinux symbols used by plugsched.ko.
 *
 * Every reference here is bound at load time by the kernel's module loader
 * through the klp relocations that `plugsched klp-convert` writes at build
 * time (see Documentation/build-and-test.rst), not through exports.
 */
#include <linux/kallsyms.h>
#include <linux/memory.h>

#include "shims.h"

unsigned long plugsched_ksym_lookup(const char *name)
{
	return kallsyms_lookup_name(name);
}

unsigned long plugsched_ksym_text_mutex(void)
{
	return (unsigned long)&text_mutex;
}
