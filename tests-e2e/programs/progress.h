/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Progress files of the workload programs (fifo, forker, hog, msgpass): a
 * decimal count and a newline, replaced atomically by rename, at most ten
 * times a second, so that a checker can see a program is alive and moving.
 */
#ifndef PLUGSCHED_PROGRESS_H
#define PLUGSCHED_PROGRESS_H

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define PUBLISH_NS	100000000LL	/* at most 10 updates a second */

static inline long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Replace FILE by a file holding "COUNT\n": readers never see a partial one. */
static inline void publish(const char *path, unsigned long long count)
{
	char tmp[PATH_MAX], buf[32];
	int fd, len;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		fprintf(stderr, "%s: name too long\n", path);
		exit(1);
	}
	len = snprintf(buf, sizeof(buf), "%llu\n", count);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, len) != len || close(fd) ||
	    rename(tmp, path)) {
		perror(path);
		exit(1);
	}
}

/* publish() if PUBLISH_NS passed since *last (updated then). */
static inline void publish_every(const char *path, unsigned long long count,
				 long long *last)
{
	if (now_ns() - *last < PUBLISH_NS)
		return;
	publish(path, count);
	*last = now_ns();
}

#endif /* PLUGSCHED_PROGRESS_H */
