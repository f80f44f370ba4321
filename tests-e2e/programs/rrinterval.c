// SPDX-License-Identifier: GPL-2.0
/*
 * rrinterval [SLICE_NS...]: for each requested slice of the calling
 * SCHED_OTHER thread (0: the default slice), prints
 *
 *     rrinterval: request=R slice=S rr=I
 *
 * S: the slice the kernel keeps (sched_getattr's sched_runtime, se.slice),
 * I: what sched_rr_get_interval(2) reports, both in nanoseconds.  The
 * scenario of examples/fix-rr-interval compares them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* struct sched_attr of include/uapi/linux/sched/types.h (VER1). */
struct attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;
	uint64_t sched_deadline;
	uint64_t sched_period;
	uint32_t sched_util_min;
	uint32_t sched_util_max;
};

static int get_attr(struct attr *a)
{
	memset(a, 0, sizeof(*a));
	return syscall(SYS_sched_getattr, 0, a, sizeof(*a), 0);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		unsigned long long request = strtoull(argv[i], NULL, 0);
		struct timespec ts;
		struct attr a;

		if (get_attr(&a)) {
			perror("sched_getattr");
			return 1;
		}
		a.size = sizeof(a);
		a.sched_policy = SCHED_OTHER;
		a.sched_flags = 0;
		a.sched_priority = 0;
		a.sched_runtime = request;
		a.sched_deadline = a.sched_period = 0;
		if (syscall(SYS_sched_setattr, 0, &a, 0)) {
			perror("sched_setattr");
			return 1;
		}
		if (get_attr(&a) || sched_rr_get_interval(0, &ts)) {
			perror("sched_getattr/sched_rr_get_interval");
			return 1;
		}
		printf("rrinterval: request=%llu slice=%llu rr=%lld\n", request,
		       (unsigned long long)a.sched_runtime,
		       (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	}
	return 0;
}
