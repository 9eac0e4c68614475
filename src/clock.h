/* Wall-clock and monotonic time in microseconds. */
#ifndef PC_CLOCK_H
#define PC_CLOCK_H

#include <stdint.h>

/* Microseconds since the Unix epoch (wall clock, UTC). */
int64_t clock_now_us(void);
/* Microseconds on a monotonic clock, for measuring intervals. */
int64_t clock_mono_us(void);
/* Sleep for us microseconds (restarted on EINTR). */
void clock_sleep_us(int64_t us);

#endif
