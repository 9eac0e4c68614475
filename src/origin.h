/* The origin store: PostgreSQL behind the PostgREST protocol, over libcurl. */
#ifndef PC_ORIGIN_H
#define PC_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "result.h"

struct config;
struct origin;

/*
 * Prepare reusable connections to cfg's origin (they connect lazily). Every
 * request carries the service key in apikey (a legacy JWT key also as the
 * Bearer token, a publishable or secret key never), and has connect and
 * total timeouts. cfg must outlive the origin.
 */
enum pc_result origin_open(const struct config *cfg, struct origin **out,
    char *err);
void origin_close(struct origin *o);

/*
 * Read one row: GET {url}/{table}?{key}=eq.{id}&select={select} asking for
 * a single object. id must already be validated. PC_OK: *row (malloc()ed,
 * NUL-terminated, owned by the caller) holds the JSON object. PC_NOTFOUND:
 * no such row (PostgREST's 406 PGRST116). PC_UNAVAILABLE: connection
 * failure, timeout or 5xx. PC_ERROR: any other answer (bad key, missing
 * table), detailed in err.
 */
enum pc_result origin_get_row(struct origin *o, const char *table,
    const char *key, const char *id, const char *select, char **row,
    size_t *row_len, char *err);

/*
 * Call a database function: POST {url}/rpc/{fn} with a JSON object body of
 * named arguments. PC_OK: *resp (malloc()ed, NUL-terminated, owned by the
 * caller) holds the function's JSON result. PC_UNAVAILABLE: connection
 * failure, timeout or 5xx; whether the function ran is unknown, so the call
 * must be safe to repeat. PC_INVALID: a 4xx whose SQLSTATE is a data or
 * constraint error (classes 22, 23): the database refused the arguments
 * (detail in err). PC_TOOBIG: the answer was larger than [origin]
 * max_answer_bytes (the function ran). PC_ERROR: anything else, a
 * misconfiguration included (401, 403, a missing function).
 */
enum pc_result origin_rpc(struct origin *o, const char *fn, const char *args,
    size_t args_len, char **resp, size_t *resp_len, char *err);

/*
 * The same call without waiting for it: up to ORIGIN_STARTED_MAX calls may
 * be in flight at once, each on its own connection. args is copied. tag
 * comes back with the call's answer from origin_rpc_wait.
 */
#define ORIGIN_STARTED_MAX CONFIG_PIPELINE_MAX
enum pc_result origin_rpc_start(struct origin *o, const char *fn,
    const char *args, size_t args_len, void *tag, char *err);

/*
 * Wait for one started call to end, whichever ends first: its tag, and what
 * origin_rpc would have answered. PC_ERROR also when nothing is in flight.
 */
enum pc_result origin_rpc_wait(struct origin *o, void **tag, char **resp,
    size_t *resp_len, char *err);

/* Forget every started call without waiting for it (its tag is not given back). */
void origin_rpc_abandon(struct origin *o);

/* A cheap read to tell whether the origin answers. */
enum pc_result origin_ping(struct origin *o, char *err);

/*
 * Read rows: GET {url}/{table}?{query} (query already escaped) asking for a
 * JSON array. PC_OK: *rows (malloc()ed, NUL-terminated) holds it. The
 * errors are origin_get_row()'s.
 */
enum pc_result origin_get_rows(struct origin *o, const char *table,
    const char *query, char **rows, size_t *rows_len, char *err);

/*
 * Whether a row of table has column equal to value (GET
 * table?column=eq.value&select=id&limit=1); *exists gets the answer.
 */
enum pc_result origin_exists(struct origin *o, const char *table,
    const char *column, const char *value, bool *exists, char *err);

/*
 * One request to diagnose the origin, whatever it answers: GET
 * {url}{path} (body NULL) or a POST of the JSON body, with the service key
 * as always. PC_OK when an answer came: its HTTP status in *status and its
 * body in *resp (malloc()ed, NUL-terminated, owned by the caller; NULL when
 * empty). PC_UNAVAILABLE when none came (err says why).
 */
enum pc_result origin_probe(struct origin *o, const char *path,
    const char *body, long *status, char **resp, size_t *resp_len, char *err);

#endif
