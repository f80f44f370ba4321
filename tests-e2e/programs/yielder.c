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

static void *loop(void *arg)
{
	(void)arg;
	for (;;)
		sched_yield();
	return NULL;
}

int main(int argc, char **argv)
{
	int i, n = argc > 1 ? atoi(argv[1]) : 1;
	pthread_attr_t a;
	pthread_t t;

	/* Threads inherit the nice value of the thread creating them. */
	if (argc > 2 && setpriority(PRIO_PROCESS, 0, atoi(argv[2]))) {
		perror("setpriority");
		return 1;
	}
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
