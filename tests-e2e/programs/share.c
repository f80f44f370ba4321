// SPDX-License-Identifier: GPL-2.0
/*
 * share [-c CPU] [-w WARMUP] [-t WINDOW] [-i] A B: how a CPU is shared.
 *
 * Starts two CPU hogs pinned to CPU (default 1), A and B, each given as
 * POLICY:NICE with POLICY other, batch or idle (e.g. other:0, other:10,
 * idle:0), waits WARMUP seconds (default 1), then measures each hog's CPU
 * time over WINDOW seconds (default 2) from /proc/PID/schedstat
 * (sum_exec_runtime, and pcount: how many times it got the CPU) and prints
 * one line:
 *
 *   share a_pct=90.2 b_pct=9.7 a_runs=25 b_runs=24 a_run_ms=72.1
 *         b_run_ms=8.1 a_slice_ms=0 b_slice_ms=0 window_s=2.00
 *
 * a_pct/b_pct: CPU time over the wall time of the window; a_runs/b_runs:
 * how many times each got the CPU; a_run_ms/b_run_ms: how long it kept it
 * on average (CPU time / runs); a_slice_ms/b_slice_ms: its time slice as
 * sched_rr_get_interval() reports it at the end of the window (for the
 * fair class: the slice in whole ticks, 0 if shorter than one).
 *
 * With -i, the hogs keep running and a window (warm-up included) is
 * measured each time a line is read from standard input, until end of
 * file: the same two tasks are measured before, while and after a
 * scheduler is live.  The program itself runs on the other CPUs, if any.
 * Exits 0 once done, 1 on an error; the hogs are killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

struct hog {
	const char *spec;
	int policy;
	int nice;
	pid_t pid;
	unsigned long long exec_ns;
	unsigned long long runs;
};

static struct hog hogs[2];

static void die(const char *what)
{
	int i;

	perror(what);
	for (i = 0; i < 2; i++)
		if (hogs[i].pid > 0)
			kill(hogs[i].pid, SIGKILL);
	exit(1);
}

static int parse_spec(struct hog *h, const char *spec)
{
	const char *colon = strchr(spec, ':');
	size_t len;
	char *end;

	if (!colon)
		return -1;
	len = colon - spec;
	if (len == 5 && !strncmp(spec, "other", 5))
		h->policy = SCHED_OTHER;
	else if (len == 5 && !strncmp(spec, "batch", 5))
		h->policy = SCHED_BATCH;
	else if (len == 4 && !strncmp(spec, "idle", 4))
		h->policy = SCHED_IDLE;
	else
		return -1;
	h->nice = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || h->nice < -20 || h->nice > 19)
		return -1;
	h->spec = spec;
	return 0;
}

/* The hog: pinned, its policy and nice set, reports ready, then spins. */
static void run_hog(const struct hog *h, int cpu, int ready)
{
	struct sched_param sp = { .sched_priority = 0 };
	cpu_set_t set;
	unsigned long spin = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
	if (setpriority(PRIO_PROCESS, 0, h->nice))
		die("setpriority");
	if (sched_setscheduler(0, h->policy, &sp))
		die("sched_setscheduler");
	if (write(ready, "r", 1) != 1)
		die("write");
	close(ready);
	for (;;) {
		/* The empty asm keeps the compiler from dropping the loop. */
		asm volatile("" : : "r" (spin));
		spin++;
	}
}

/* sum_exec_runtime and pcount of PID, from /proc/PID/schedstat. */
static void sample(struct hog *h)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)h->pid);
	f = fopen(path, "r");
	if (!f)
		die(path);
	if (fscanf(f, "%llu %*u %llu", &h->exec_ns, &h->runs) != 2) {
		errno = EINVAL;
		die(path);
	}
	fclose(f);
}

static void sleep_s(double s)
{
	struct timespec ts = {
		.tv_sec = (time_t)s,
		.tv_nsec = (long)((s - (time_t)s) * 1e9),
	};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static double run_ms(unsigned long long ns, unsigned long long runs)
{
	return runs ? ns / 1e6 / runs : 0.0;
}

static long long ms(const struct timespec *ts)
{
	return ts->tv_sec * 1000LL + ts->tv_nsec / 1000000;
}

static void measure(double warmup, double window)
{
	unsigned long long ns[2], runs[2];
	struct timespec slice[2];
	long long t0, t1;
	double wall;
	int i;

	sleep_s(warmup);
	for (i = 0; i < 2; i++) {
		sample(&hogs[i]);
		ns[i] = hogs[i].exec_ns;
		runs[i] = hogs[i].runs;
	}
	t0 = now_ns();
	sleep_s(window);
	for (i = 0; i < 2; i++) {
		sample(&hogs[i]);
		ns[i] = hogs[i].exec_ns - ns[i];
		runs[i] = hogs[i].runs - runs[i];
	}
	t1 = now_ns();
	for (i = 0; i < 2; i++)
		if (sched_rr_get_interval(hogs[i].pid, &slice[i]))
			die("sched_rr_get_interval");
	wall = (t1 - t0) / 1e9;
	printf("share a_pct=%.1f b_pct=%.1f a_runs=%llu b_runs=%llu a_run_ms=%.1f b_run_ms=%.1f a_slice_ms=%lld b_slice_ms=%lld window_s=%.2f\n",
	       100.0 * ns[0] / 1e9 / wall, 100.0 * ns[1] / 1e9 / wall,
	       runs[0], runs[1], run_ms(ns[0], runs[0]),
	       run_ms(ns[1], runs[1]), ms(&slice[0]), ms(&slice[1]), wall);
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr, "usage: share [-c CPU] [-w WARMUP] [-t WINDOW] [-i] POLICY:NICE POLICY:NICE\n"
		"       POLICY: other, batch or idle\n");
	exit(2);
}

int main(int argc, char **argv)
{
	double warmup = 1.0, window = 2.0;
	int cpu = 1, interactive = 0, opt, i, ncpus;
	int ready[2];
	cpu_set_t set;
	char line[64], c;

	while ((opt = getopt(argc, argv, "c:w:t:i")) != -1) {
		switch (opt) {
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'w':
			warmup = atof(optarg);
			break;
		case 't':
			window = atof(optarg);
			break;
		case 'i':
			interactive = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || window <= 0 || warmup < 0 ||
	    parse_spec(&hogs[0], argv[optind]) ||
	    parse_spec(&hogs[1], argv[optind + 1]))
		usage();
	ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpu < 0 || cpu >= ncpus || cpu >= CPU_SETSIZE) {
		fprintf(stderr, "share: no CPU %d (%d online)\n", cpu, ncpus);
		return 1;
	}
	/* Keep out of the hogs' way: run on the other CPUs. */
	if (ncpus > 1) {
		CPU_ZERO(&set);
		for (i = 0; i < ncpus && i < CPU_SETSIZE; i++)
			if (i != cpu)
				CPU_SET(i, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			die("sched_setaffinity");
	}
	if (pipe(ready))
		die("pipe");
	for (i = 0; i < 2; i++) {
		hogs[i].pid = fork();
		if (hogs[i].pid < 0)
			die("fork");
		if (!hogs[i].pid) {
			hogs[0].pid = hogs[1].pid = 0;
			close(ready[0]);
			run_hog(&hogs[i], cpu, ready[1]);
		}
	}
	close(ready[1]);
	for (i = 0; i < 2; i++)
		if (read(ready[0], &c, 1) != 1) {
			errno = ECHILD;
			die("hog setup");
		}
	close(ready[0]);
	printf("share started a=%d(%s) b=%d(%s) cpu=%d\n", (int)hogs[0].pid,
	       hogs[0].spec, (int)hogs[1].pid, hogs[1].spec, cpu);
	fflush(stdout);
	if (!interactive)
		measure(warmup, window);
	else
		while (fgets(line, sizeof(line), stdin))
			measure(warmup, window);
	for (i = 0; i < 2; i++) {
		kill(hogs[i].pid, SIGKILL);
		waitpid(hogs[i].pid, NULL, 0);
	}
	return 0;
}
