// SPDX-License-Identifier: GPL-2.0
/*
 * forker FILE: task creation and exit, over and over.  Until killed, every
 * ~10 ms forks a child that exits at once and reaps it; every tenth round
 * also creates a thread and joins it.  The number of completed forks is
 * published in FILE (a decimal number and a newline, replaced atomically
 * by rename, at most ten times a second).  Prints "ready" once FILE exists.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

#define PERIOD_NS	10000000L	/* one fork per period */

static void *short_thread(void *arg)
{
	return arg;
}

int main(int argc, char **argv)
{
	struct timespec period = { 0, PERIOD_NS };
	unsigned long long count = 0;
	long long last;
	pthread_t t;
	pid_t pid;
	int status, err;

	if (argc != 2) {
		fprintf(stderr, "usage: forker FILE\n");
		return 2;
	}
	publish(argv[1], 0);
	last = now_ns();
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		pid = fork();
		if (pid < 0) {
			perror("forker: fork");
			return 1;
		}
		if (pid == 0)
			_exit(0);
		while (waitpid(pid, &status, 0) < 0) {
			if (errno != EINTR) {
				perror("forker: waitpid");
				return 1;
			}
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "forker: child %d ended with status %#x\n",
				(int)pid, status);
			return 1;
		}
		count++;
		if (count % 10 == 0) {
			err = pthread_create(&t, NULL, short_thread, NULL);
			if (!err)
				err = pthread_join(t, NULL);
			if (err) {
				fprintf(stderr, "forker: thread: %s\n", strerror(err));
				return 1;
			}
		}
		publish_every(argv[1], count, &last);
		while (nanosleep(&period, NULL) && errno == EINTR)
			;
	}
}
