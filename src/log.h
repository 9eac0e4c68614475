/* One-line key=value logging to stderr (the web server's error log). */
#ifndef PC_LOG_H
#define PC_LOG_H

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Parse "error", "warn", "info" or "debug"; -1 when unknown. */
int log_level_parse(const char *s);
void log_set_level(enum log_level level);
/* Set the program name printed at the start of each line (not copied). */
void log_set_ident(const char *ident);

/*
 * Log one event. fmt continues the line with more key=value pairs; values
 * that may hold spaces should be quoted by the caller. Never pass a secret.
 */
void log_msg(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(ev, ...) log_msg(LOG_LVL_ERROR, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_msg(LOG_LVL_WARN, ev, __VA_ARGS__)
#define log_info(ev, ...) log_msg(LOG_LVL_INFO, ev, __VA_ARGS__)
#define log_debug(ev, ...) log_msg(LOG_LVL_DEBUG, ev, __VA_ARGS__)

#endif
