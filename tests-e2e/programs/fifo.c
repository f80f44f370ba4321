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

#define WORK_NS		1000000LL	/* busy part of a period */
#define SLEEP_NS	5000000L	/* sleeping part of a period */
#define PUBLISH_NS	100000000LL	/* at most 10 updates a second */

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Replace FILE by a file holding "COUNT\n": readers never see a partial one. */
static void publish(const char *path, unsigned long long count)
{
	char tmp[PATH_MAX], buf[32];
	int fd, len;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	len = snprintf(buf, sizeof(buf), "%llu\n", count);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, len) != len || close(fd) ||
	    rename(tmp, path)) {
		perror(path);
		exit(1);
	}
}

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
		if (now_ns() - last >= PUBLISH_NS) {
			publish(argv[1], count);
			last = now_ns();
		}
	}
}
