// SPDX-License-Identifier: GPL-2.0
/*
 * timeit LABEL CMD [ARG...]: run CMD and print "timeit: LABEL ns=N rc=R",
 * N the wall-clock nanoseconds (CLOCK_MONOTONIC) from fork to exit, R its
 * exit status.  Exits with CMD's status.
 */
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long long t0;
	int status, rc;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: timeit LABEL CMD [ARG...]\n");
		return 2;
	}
	t0 = now_ns();
	pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return 2;
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
	printf("timeit: %s ns=%lld rc=%d\n", argv[1], now_ns() - t0, rc);
	return rc;
}
