// SPDX-License-Identifier: GPL-2.0
/*
 * msgpass DIR [GROUPS [FDS [PAUSE_US]]]: hackbench-like message passing
 * between threads, until killed.  Each of GROUPS groups (default 2) has
 * FDS receiver threads (default 4), each reading 100-byte messages from
 * its own pipe, and FDS sender threads, each sending one message to every
 * receiver of its group per round, then sleeping PAUSE_US microseconds
 * (default 0: flat out, as hackbench; a pause bounds the load under slow
 * emulation while keeping the stream of wake-ups).  The total number of
 * messages received is published in DIR/msgpass (a decimal number and a
 * newline, replaced atomically by rename, at most ten times a second).
 * Prints "ready" once every thread exists and the file does.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

#define MSG_SIZE	100
#define MAX_FDS		64

struct group {
	int nfds;
	int wfd[MAX_FDS];	/* write end of each receiver's pipe */
};

static unsigned long long received;
static long pause_us;

static void die(const char *what, int err)
{
	fprintf(stderr, "msgpass: %s: %s\n", what, strerror(err));
	exit(1);
}

static void *sender(void *arg)
{
	struct group *g = arg;
	struct timespec nap = { pause_us / 1000000, pause_us % 1000000 * 1000 };
	char msg[MSG_SIZE];
	ssize_t n;
	int i, done;

	memset(msg, 'm', sizeof(msg));
	for (;;) {
		for (i = 0; i < g->nfds; i++) {
			for (done = 0; done < MSG_SIZE; done += n) {
				n = write(g->wfd[i], msg + done, MSG_SIZE - done);
				if (n < 0 && errno == EINTR)
					n = 0;
				else if (n < 0)
					die("write", errno);
			}
		}
		if (pause_us)
			while (nanosleep(&nap, NULL) && errno == EINTR)
				;
	}
	return NULL;
}

static void *receiver(void *arg)
{
	int fd = (int)(long)arg;
	char msg[MSG_SIZE];
	ssize_t n;
	int done;

	for (;;) {
		for (done = 0; done < MSG_SIZE; done += n) {
			n = read(fd, msg + done, MSG_SIZE - done);
			if (n < 0 && errno == EINTR)
				n = 0;
			else if (n < 0)
				die("read", errno);
			else if (n == 0)
				die("read", EPIPE);
		}
		__atomic_fetch_add(&received, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct timespec period = { 0, PUBLISH_NS };
	int ngroups = argc > 2 ? atoi(argv[2]) : 2;
	int nfds = argc > 3 ? atoi(argv[3]) : 4;
	char path[PATH_MAX];
	struct group *groups;
	pthread_t t;
	int g, i, p[2], err;

	pause_us = argc > 4 ? atol(argv[4]) : 0;
	if (argc < 2 || argc > 5 || ngroups < 1 || nfds < 1 ||
	    nfds > MAX_FDS || pause_us < 0) {
		fprintf(stderr, "usage: msgpass DIR [GROUPS [FDS [PAUSE_US]]] (FDS <= %d)\n",
			MAX_FDS);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/msgpass", argv[1]);
	groups = calloc(ngroups, sizeof(*groups));
	if (!groups)
		die("calloc", ENOMEM);
	for (g = 0; g < ngroups; g++) {
		groups[g].nfds = nfds;
		for (i = 0; i < nfds; i++) {
			if (pipe(p))
				die("pipe", errno);
			groups[g].wfd[i] = p[1];
			err = pthread_create(&t, NULL, receiver, (void *)(long)p[0]);
			if (err)
				die("receiver thread", err);
		}
		for (i = 0; i < nfds; i++) {
			err = pthread_create(&t, NULL, sender, &groups[g]);
			if (err)
				die("sender thread", err);
		}
	}
	publish(path, __atomic_load_n(&received, __ATOMIC_RELAXED));
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		while (nanosleep(&period, NULL) && errno == EINTR)
			;
		publish(path, __atomic_load_n(&received, __ATOMIC_RELAXED));
	}
}
