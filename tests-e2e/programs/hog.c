// SPDX-License-Identifier: GPL-2.0
/*
 * hog FILE: a CPU hog.  Spins in a busy loop until killed, counting the
 * loop in units of UNIT iterations, and publishes the count in FILE (a
 * decimal number and a newline, replaced atomically by rename, at most
 * ten times a second) so a checker can see that it keeps getting CPU
 * time.  Prints "ready" once FILE exists.  Load for the live scenario,
 * where it runs in a cgroup with a CFS bandwidth limit.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

#define UNIT		100000UL	/* loop iterations per count */

int main(int argc, char **argv)
{
	unsigned long long count = 0;
	unsigned long spin;
	long long last;

	if (argc != 2) {
		fprintf(stderr, "usage: hog FILE\n");
		return 2;
	}
	publish(argv[1], 0);
	last = now_ns();
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		/* The empty asm keeps the compiler from dropping the loop. */
		for (spin = 0; spin < UNIT; spin++)
			asm volatile("" : : "r" (spin));
		count++;
		publish_every(argv[1], count, &last);
	}
}
