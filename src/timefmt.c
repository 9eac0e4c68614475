/* RFC 3339 timestamps <-> microseconds since the Unix epoch. */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "timefmt.h"

#define US_PER_DAY ((int64_t)86400 * 1000000)

/*
 * Days between 1970-01-01 and y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil), so no time zone or libc state matters.
 */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int
days_in_month(int64_t y, int m)
{
	static const int dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
		31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 ? 28 + leap : dim[m - 1];
}

/* Read exactly n digits at s[*i]; -1 when one is missing. */
static int
digits(const char *s, size_t len, size_t *i, int n)
{
	int v = 0;

	while (n-- > 0) {
		if (*i >= len || s[*i] < '0' || s[*i] > '9')
			return -1;
		v = v * 10 + (s[(*i)++] - '0');
	}
	return v;
}

static int
expect(const char *s, size_t len, size_t *i, char c)
{
	if (*i >= len || s[*i] != c)
		return -1;
	(*i)++;
	return 0;
}

enum pc_result
timefmt_parse(const char *s, size_t len, int64_t *us)
{
	int year, mon, day, hh, mm, ss, frac = 0, fdigits = 0, oh = 0, om = 0;
	int sign = 0;
	size_t i = 0;

	if ((year = digits(s, len, &i, 4)) < 1 || expect(s, len, &i, '-') ||
	    (mon = digits(s, len, &i, 2)) < 1 || mon > 12 ||
	    expect(s, len, &i, '-') || (day = digits(s, len, &i, 2)) < 1 ||
	    day > days_in_month(year, mon))
		return PC_INVALID;
	if (i >= len || (s[i] != 'T' && s[i] != ' '))
		return PC_INVALID;
	i++;
	if ((hh = digits(s, len, &i, 2)) < 0 || hh > 23 ||
	    expect(s, len, &i, ':') || (mm = digits(s, len, &i, 2)) < 0 ||
	    mm > 59 || expect(s, len, &i, ':') ||
	    (ss = digits(s, len, &i, 2)) < 0 || ss > 59)
		return PC_INVALID;
	if (i < len && s[i] == '.') {
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (++fdigits > 6)
				return PC_INVALID;
			frac = frac * 10 + (s[i++] - '0');
		}
		if (fdigits == 0)
			return PC_INVALID;
		for (; fdigits < 6; fdigits++)
			frac *= 10;
	}
	if (i >= len)
		return PC_INVALID;
	if (s[i] == 'Z') {
		i++;
	} else if (s[i] == '+' || s[i] == '-') {
		sign = s[i++] == '+' ? 1 : -1;
		if ((oh = digits(s, len, &i, 2)) < 0 || oh > 23)
			return PC_INVALID;
		if (i < len) {
			if (s[i] == ':')
				i++;
			if ((om = digits(s, len, &i, 2)) < 0 || om > 59)
				return PC_INVALID;
		}
	} else
		return PC_INVALID;
	if (i != len)
		return PC_INVALID;

	*us = days_from_civil(year, mon, day) * US_PER_DAY +
	    ((int64_t)hh * 3600 + mm * 60 + ss) * 1000000 + frac -
	    (int64_t)sign * ((int64_t)oh * 3600 + om * 60) * 1000000;
	return PC_OK;
}

enum pc_result
timefmt_format(int64_t us, char out[TIMEFMT_LEN])
{
	char tmp[80]; /* room for any int values: nothing can truncate */
	int64_t days, rem, y;
	int m, d, n;

	days = us / US_PER_DAY;
	rem = us % US_PER_DAY;
	if (rem < 0) {
		rem += US_PER_DAY;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (y < 1 || y > 9999)
		return PC_INVALID;
	n = snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
	    (int)y, m, d, (int)(rem / 3600000000), (int)(rem / 60000000 % 60),
	    (int)(rem / 1000000 % 60), (int)(rem % 1000000));
	if (n != TIMEFMT_LEN - 1)
		return PC_INVALID;
	memcpy(out, tmp, TIMEFMT_LEN);
	return PC_OK;
}
