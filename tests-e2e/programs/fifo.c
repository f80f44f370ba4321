// SPDX-License-Identifier: GPL-2.0
/*
 * fifo FILE PRIO: a periodic real-time task.  Makes itself SCHED_FIFO at
 * priority PRIO (exit code 1 if the kernel refuses), then until killed
 * works for about 1 ms (a spin on the clock) and sleeps 5 ms, counting
 * the periods.  The count is published in FILE (a decimal number and a
 * newline, replaced atomically by rename, at most ten times a second).
 * Prints "ready" once it runs as SCHED_FIFO and FILE exists.  It uses
 * about a sixth of one CPU, so it never starves the rest of the system.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

#define WORK_NS		1000000LL	/* busy part of a period */
#define SLEEP_NS	5000000L	/* sleeping part of a period */

int main(int argc, char **argv)
{
	struct timespec nap = { 0, SLEEP_NS };
	unsigned long long count = 0;
	struct sched_param sp;
	long long start, last;

	if (argc != 3) {
		fprintf(stderr, "usage: fifo FILE PRIO\n");
		return 2;
	}
	memset(&sp, 0, sizeof(sp));
	sp.sched_priority = atoi(argv[2]);
	if (sched_setscheduler(0, SCHED_FIFO, &sp)) {
		fprintf(stderr, "fifo: cannot set SCHED_FIFO priority %d: %s\n",
			sp.sched_priority, strerror(errno));
		return 1;
	}
	publish(argv[1], 0);
	last = now_ns();
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		start = now_ns();
		while (now_ns() - start < WORK_NS)
			;
		while (nanosleep(&nap, NULL) && errno == EINTR)
			;
		count++;
		publish_every(argv[1], count, &last);
	}
}
