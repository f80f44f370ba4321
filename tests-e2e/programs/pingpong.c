// SPDX-License-Identifier: GPL-2.0
/*
 * pingpong N [NICE]: N threads in N/2 pairs, each pair passing one byte back and
 * forth through two pipes (each thread sleeps in read() until the other
 * wakes it), until killed.  Prints "pingpong: N threads" once they all run.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

struct end {
	int in, out;
	int serve;
};

/* The nice value of the threads; main keeps its own, so that creating
 * them is not slowed down by those already running. */
static int nice_value;

static void *loop(void *arg)
{
	struct end *e = arg;
	char c = 0;

	/* Each thread lowers its own priority (Linux: per thread). */
	if (setpriority(PRIO_PROCESS, 0, nice_value))
		return NULL;

	if (e->serve && write(e->out, &c, 1) != 1)
		return NULL;
	for (;;) {
		if (read(e->in, &c, 1) != 1 || write(e->out, &c, 1) != 1)
			return NULL;
	}
}

int main(int argc, char **argv)
{
	int i, n = argc > 1 ? atoi(argv[1]) / 2 : 1;
	pthread_attr_t a;
	pthread_t t;

	if (argc > 2)
		nice_value = atoi(argv[2]);
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 * 1024);
	for (i = 0; i < n; i++) {
		int ab[2], ba[2];
		struct end *e = calloc(2, sizeof(*e));

		if (!e || pipe(ab) || pipe(ba)) {
			perror("pipe");
			return 1;
		}
		e[0] = (struct end){ .in = ba[0], .out = ab[1], .serve = 1 };
		e[1] = (struct end){ .in = ab[0], .out = ba[1], .serve = 0 };
		if (pthread_create(&t, &a, loop, &e[0]) || pthread_create(&t, &a, loop, &e[1])) {
			perror("pthread_create");
			return 1;
		}
	}
	printf("pingpong: %d threads\n", 2 * n);
	fflush(stdout);
	for (;;)
		pause();
}
