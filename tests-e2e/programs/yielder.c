// SPDX-License-Identifier: GPL-2.0
/*
 * yielder N [NICE]: N threads calling sched_yield() in a loop, until killed.
 * Prints "yielder: N threads" once they all run.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

/* The nice value of the threads; main keeps its own, so that creating
 * them is not slowed down by those already running. */
static int nice_value;

static void *loop(void *arg)
{
	(void)arg;

	/* Each thread lowers its own priority (Linux: per thread). */
	if (setpriority(PRIO_PROCESS, 0, nice_value))
		return NULL;
	for (;;)
		sched_yield();
	return NULL;
}

int main(int argc, char **argv)
{
	int i, n = argc > 1 ? atoi(argv[1]) : 1;
	pthread_attr_t a;
	pthread_t t;

	if (argc > 2)
		nice_value = atoi(argv[2]);
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 * 1024);
	for (i = 0; i < n; i++) {
		if (pthread_create(&t, &a, loop, NULL)) {
			perror("pthread_create");
			return 1;
		}
	}
	printf("yielder: %d threads\n", n);
	fflush(stdout);
	for (;;)
		pause();
}
