/* Names and detail messages for enum pc_result. */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>

#include "result.h"

const char *
pc_result_str(enum pc_result r)
{
	switch (r) {
	case PC_OK:
		return "ok";
	case PC_NOTFOUND:
		return "not_found";
	case PC_INVALID:
		return "invalid";
	case PC_CONFLICT:
		return "conflict";
	case PC_TOOBIG:
		return "too_big";
	case PC_UNAVAILABLE:
		return "unavailable";
	case PC_NOMEM:
		return "out_of_memory";
	case PC_ERROR:
		return "error";
	}
	return "unknown";
}

void
pc_err(char *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, PC_ERRLEN, fmt, ap);
	va_end(ap);
}
