/* RFC 3339 timestamps <-> microseconds since the Unix epoch. */
#ifndef PC_TIMEFMT_H
#define PC_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"

/* "YYYY-MM-DDTHH:MM:SS.ffffffZ" plus NUL. */
#define TIMEFMT_LEN 28

/*
 * Parse an RFC 3339 date-time as PostgreSQL and PostgREST print it:
 * "2026-11-21T16:31:03.123456+00:00", with 0 to 6 fraction digits, a 'T' or
 * a space between date and time, and 'Z' or a +HH[:MM] / -HH[:MM] offset.
 * Years 0001-9999. PC_INVALID for anything else.
 */
enum pc_result timefmt_parse(const char *s, size_t len, int64_t *us);

/*
 * Format us as UTC with exactly six fraction digits into out
 * (TIMEFMT_LEN bytes). PC_INVALID when the year is outside 0001-9999.
 */
enum pc_result timefmt_format(int64_t us, char out[TIMEFMT_LEN]);

#endif
