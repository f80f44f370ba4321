// SPDX-License-Identifier: GPL-2.0
/* Print what the kernel says the SCHED_FIFO priority range is. */
#include <sched.h>
#include <stdio.h>

int main(void)
{
	printf("max=%d min=%d\n", sched_get_priority_max(SCHED_FIFO),
	       sched_get_priority_min(SCHED_FIFO));
	return 0;
}
