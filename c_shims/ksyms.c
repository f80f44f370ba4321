// SPDX-License-Identifier: GPL-2.0
/*
 * Non-exported vmlinux symbols used by plugsched.ko.
 *
 * Every reference here is bound at load time by the kernel's module loader
 * through the klp relocations that `plugsched klp-convert` writes at build
 * time (see Documentation/build-and-test.rst), not through exports.
 */
#include <linux/buildid.h>
#include <linux/errno.h>
#include <linux/kallsyms.h>
#include <linux/memory.h>
#include <linux/string.h>

#include "shims.h"

unsigned long plugsched_ksym_lookup(const char *name)
{
	return kallsyms_lookup_name(name);
}

unsigned long plugsched_ksym_text_mutex(void)
{
	return (unsigned long)&text_mutex;
}

/*
 * Compare the running kernel's build ID with @expected (NULL: the one this
 * module was built for).  Writes the running one, in hex, to @running
 * (at least 2 * BUILD_ID_SIZE_MAX + 1 bytes).  0 when they match,
 * -ENOEXEC otherwise (also when the module was built without one).
 */
int plugsched_check_build_id(const char *expected, char *running)
{
	int i;

	for (i = 0; i < BUILD_ID_SIZE_MAX; i++)
		sprintf(running + 2 * i, "%02x", vmlinux_build_id[i]);
	/* Build IDs shorter than the maximum are zero-padded. */
	for (i = 2 * BUILD_ID_SIZE_MAX; i > 0 && running[i - 1] == '0' && running[i - 2] == '0'; i -= 2)
		running[i - 2] = '\0';
	if (!expected)
		expected = PLUGSCHED_BUILD_ID;
	if (!*expected || strcmp(expected, running))
		return -ENOEXEC;
	return 0;
}

const char *plugsched_built_for_build_id(void)
{
	return PLUGSCHED_BUILD_ID;
}
