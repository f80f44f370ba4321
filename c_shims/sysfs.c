// SPDX-License-Identifier: GPL-2.0
/*
 * sysfs interface of plugsched.ko: /sys/kernel/plugsched/
 *
 *   state   the module's live-update state, formatted by the Rust side
 *   kernel  the kernel release the module was built for, and the running one
 *
 * The kobject is created at module init and removed at module exit, from
 * Rust (rust/shim.rs, struct Sysfs).
 */
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/kobject.h>
#include <linux/sysfs.h>
#include <linux/utsname.h>
#include <generated/utsrelease.h>

#include "shims.h"

static struct kobject *plugsched_kobj;

static ssize_t state_show(struct kobject *kobj, struct kobj_attribute *attr,
			  char *buf)
{
	/* sysfs hands every show() a zeroed page. */
	return plugsched_rs_state_show(buf, PAGE_SIZE);
}

static ssize_t kernel_show(struct kobject *kobj, struct kobj_attribute *attr,
			   char *buf)
{
	return sysfs_emit(buf, "built-for %s\nrunning %s\n", UTS_RELEASE,
			  init_utsname()->release);
}

static struct kobj_attribute state_attr = __ATTR_RO(state);
static struct kobj_attribute kernel_attr = __ATTR_RO(kernel);

static struct attribute *plugsched_attrs[] = {
	&state_attr.attr,
	&kernel_attr.attr,
	NULL,
};

static const struct attribute_group plugsched_group = {
	.attrs = plugsched_attrs,
};

int plugsched_sysfs_create(void)
{
	int ret;

	plugsched_kobj = kobject_create_and_add("plugsched", kernel_kobj);
	if (!plugsched_kobj)
		return -ENOMEM;
	ret = sysfs_create_group(plugsched_kobj, &plugsched_group);
	if (ret) {
		kobject_put(plugsched_kobj);
		plugsched_kobj = NULL;
	}
	return ret;
}

void plugsched_sysfs_destroy(void)
{
	if (!plugsched_kobj)
		return;
	sysfs_remove_group(plugsched_kobj, &plugsched_group);
	kobject_put(plugsched_kobj);
	plugsched_kobj = NULL;
}

/*
 * Read up to @len bytes of the file at @path from offset 0, the way a user
 * would.  Used by the KUnit suites to check the sysfs interface end to end.
 */
ssize_t plugsched_read_file(const char *path, char *buf, size_t len)
{
	struct file *f;
	loff_t pos = 0;
	ssize_t ret;

	f = filp_open(path, O_RDONLY, 0);
	if (IS_ERR(f))
		return PTR_ERR(f);
	ret = kernel_read(f, buf, len, &pos);
	filp_close(f, NULL);
	return ret;
}
