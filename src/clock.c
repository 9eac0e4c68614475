/* Wall-clock and monotonic time in microseconds. */
#include "autoconf.h"

#include <errno.h>
#include <time.h>

#include "clock.h"

static int64_t
clock_read(clockid_t id)
{
	struct timespec ts;

	(void)clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
clock_now_us(void)
{
	return clock_read(CLOCK_REALTIME);
}

int64_t
clock_mono_us(void)
{
	return clock_read(CLOCK_MONOTONIC);
}

void
clock_sleep_us(int64_t us)
{
	struct timespec ts = { .tv_sec = us / 1000000,
		.tv_nsec = (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}
