// SPDX-License-Identifier: GPL-2.0
/*
 * churn FILE NCPU: thread churn on every CPU.  One process per CPU (pinned)
 * creates detached threads that exit at once, as fast as it can, so that
 * at any time some threads are queued while they exit.  The number of
 * threads created is published in FILE (progress.h).  Prints "ready" once
 * every process runs.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "progress.h"

static void *nothing(void *arg)
{
	return arg;
}

static void churn(volatile unsigned long long *count, int cpu)
{
	pthread_attr_t attr;
	cpu_set_t set;
	pthread_t t;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN);
	for (;;) {
		if (pthread_create(&t, &attr, nothing, NULL) == 0)
			__atomic_fetch_add(count, 1, __ATOMIC_RELAXED);
		else
			usleep(1000);	/* too many threads still exiting */
	}
}

int main(int argc, char **argv)
{
	volatile unsigned long long *count;
	long long last = 0;
	int ncpu, i;

	if (argc != 3) {
		fprintf(stderr, "usage: churn FILE NCPU\n");
		return 2;
	}
	ncpu = atoi(argv[2]);
	count = mmap(NULL, sizeof(*count), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (count == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (i = 0; i < ncpu; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (!pid)
			churn(count, i);
	}
	publish(argv[1], 0);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		usleep(20000);
		if (now_ns() - last < PUBLISH_NS)
			continue;
		publish(argv[1], *count);
		last = now_ns();
	}
}
