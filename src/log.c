/* One-line key=value logging to stderr. */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum log_level log_level = LOG_LVL_INFO;
static const char *log_ident = "profilecache";

static const char *const log_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

int
log_level_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
		if (strcmp(s, log_names[i]) == 0)
			return (int)i;
	return -1;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

void
log_set_ident(const char *ident)
{
	log_ident = ident;
}

void
log_msg(enum log_level level, const char *event, const char *fmt, ...)
{
	char line[1024], ts[32];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n, m;

	if (level > log_level)
		return;
	(void)gettimeofday(&tv, NULL);
	(void)gmtime_r(&tv.tv_sec, &tm);
	(void)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

	/* Build the whole line first so one write() keeps lines whole. */
	n = snprintf(line, sizeof(line), "%s.%03ldZ %s[%ld] level=%s event=%s ",
	    ts, (long)(tv.tv_usec / 1000), log_ident, (long)getpid(),
	    log_names[level], event);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)write(STDERR_FILENO, line, (size_t)n);
}
