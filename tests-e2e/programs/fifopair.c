// SPDX-License-Identifier: GPL-2.0
/*
 * fifopair DIR CPU PRIO: two SCHED_FIFO spinners of equal priority PRIO,
 * both pinned to CPU, that never sleep.  The older one ("first") becomes
 * SCHED_FIFO at PRIO; the younger one ("second") becomes SCHED_FIFO at
 * PRIO + 10 and then lowers itself to PRIO, which puts it at the head of
 * the PRIO queue (sched_setscheduler() requeues a task whose priority is
 * lowered at the head): from then on the second one runs and the first
 * one never does, as long as the queue keeps its order.  Each spinner
 * counts its loops in shared memory; the parent, pinned elsewhere,
 * publishes both counts as DIR/first and DIR/second (progress.h) and
 * prints "ready" once both spinners have set their policy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "progress.h"

struct shared {
	volatile unsigned long long count[2];
	volatile int ready[2];
};

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("sched_setaffinity");
		exit(1);
	}
}

static void set_fifo(int prio)
{
	struct sched_param sp = { .sched_priority = prio };

	if (sched_setscheduler(0, SCHED_FIFO, &sp)) {
		fprintf(stderr, "fifopair: SCHED_FIFO %d: %s\n", prio, strerror(errno));
		exit(1);
	}
}

/* Spinner @i; the second one lowers itself from @prio + 10 to @prio. */
static void spin(struct shared *sh, int i, int cpu, int prio)
{
	pin(cpu);
	set_fifo(i ? prio + 10 : prio);
	if (i)
		set_fifo(prio);
	sh->ready[i] = 1;
	for (;;)
		sh->count[i]++;
}

int main(int argc, char **argv)
{
	char first[PATH_MAX], second[PATH_MAX];
	struct shared *sh;
	long long last = 0;
	int cpu, prio, i;
	pid_t pid[2];

	if (argc != 4) {
		fprintf(stderr, "usage: fifopair DIR CPU PRIO\n");
		return 2;
	}
	cpu = atoi(argv[2]);
	prio = atoi(argv[3]);
	snprintf(first, sizeof(first), "%s/first", argv[1]);
	snprintf(second, sizeof(second), "%s/second", argv[1]);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	pin(cpu == 0 ? 1 : 0);
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		if (pid[i] < 0) {
			perror("fork");
			return 1;
		}
		if (!pid[i])
			spin(sh, i, cpu, prio);
		/* The first one queues before the second one exists. */
		while (!sh->ready[i])
			usleep(1000);
	}
	publish(first, sh->count[0]);
	publish(second, sh->count[1]);
	printf("ready %d %d\n", pid[0], pid[1]);
	fflush(stdout);
	for (;;) {
		usleep(20000);
		if (now_ns() - last < PUBLISH_NS)
			continue;
		publish(first, sh->count[0]);
		publish(second, sh->count[1]);
		last = now_ns();
	}
}
