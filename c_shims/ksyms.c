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
#include <linux/hex.h>
#include <linux/kallsyms.h>
#include <linux/memory.h>
#include <linux/string.h>
#include <asm/setup.h>

#include "shims.h"

unsigned long plugsched_ksym_lookup(const char *name)
{
	return kallsyms_lookup_name(name);
}

/*
 * The address of vmlinux's @name, given its address in the vmlinux built
 * (@link_addr, from the manifest): @link_addr moved by the KASLR offset,
 * confirmed by one look-up by address (a binary search of the sorted
 * addresses; one by name expands a compressed name at every step of its
 * search).  0 if a different symbol starts there, or none does.
 */
unsigned long plugsched_ksym_at(const char *name, unsigned long link_addr)
{
	unsigned long addr = link_addr + kaslr_offset();
	char buf[KSYM_NAME_LEN];
	unsigned long size, offset;
	char *modname;

	if (!kallsyms_lookup(addr, &size, &offset, &modname, buf) || offset || modname ||
	    strcmp(buf, name))
		return 0;
	return addr;
}

unsigned long plugsched_ksym_text_mutex(void)
{
	return (unsigned long)&text_mutex;
}

/* vmlinux_build_id exists only with these (include/linux/buildid.h). */
#if !IS_ENABLED(CONFIG_VMCORE_INFO) && !IS_ENABLED(CONFIG_STACKTRACE_BUILD_ID)
#error "plugsched needs the running kernel's build ID: CONFIG_VMCORE_INFO (e.g. through CRASH_DUMP) or CONFIG_STACKTRACE_BUILD_ID"
#endif

/*
 * Compare the build ID @id (BUILD_ID_SIZE_MAX bytes, zero-padded as
 * vmlinux_build_id is; NULL: the running kernel's) with the hex string
 * @expected (NULL: the one this module was built for).  Writes @id in hex
 * to @hex (2 * BUILD_ID_SIZE_MAX + 1 bytes).  0 when they match, -ENOEXEC
 * otherwise (also for an empty or malformed @expected).  Compared as bytes:
 * a build ID may end in zero bytes.
 */
int plugsched_check_build_id(const char *expected, const u8 *id, char *hex)
{
	u8 want[BUILD_ID_SIZE_MAX] = {};
	size_t len;

	if (!id)
		id = vmlinux_build_id;
	*bin2hex(hex, id, BUILD_ID_SIZE_MAX) = '\0';
	if (!expected)
		expected = PLUGSCHED_BUILD_ID;
	len = strlen(expected);
	if (!len || len % 2 || len > 2 * BUILD_ID_SIZE_MAX ||
	    hex2bin(want, expected, len / 2))
		return -ENOEXEC;
	return memcmp(want, id, BUILD_ID_SIZE_MAX) ? -ENOEXEC : 0;
}

const char *plugsched_built_for_build_id(void)
{
	return PLUGSCHED_BUILD_ID;
}
