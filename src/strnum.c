/* Whole numbers from text with range checks. */
#include "autoconf.h"

#include <errno.h>
#include <stdlib.h>

#include "strnum.h"

enum pc_result
strnum_parse(const char *s, long long min, long long max, long long *out)
{
	const char *d = s;
	long long v;
	char *end;

	if (*d == '-')
		d++;
	/* strtoll would take leading spaces and a plus sign; a number may not. */
	if (*d < '0' || *d > '9')
		return PC_INVALID;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return PC_INVALID;
	*out = v;
	return PC_OK;
}
