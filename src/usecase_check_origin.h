/*
 * The origin's preflight: does the database behind the configured origin
 * have what profilecache needs (the profiles columns, the functions), as
 * seen through the origin with the service key, without writing anything?
 */
#ifndef PC_USECASE_CHECK_ORIGIN_H
#define PC_USECASE_CHECK_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "result.h"

struct origin;

/* The columns of public.profiles that profilecache reads and writes. */
#define CHECK_NCOLUMNS 10

#define CHECK_TEXT_MAX 512
#define CHECK_LINES_MAX 16
#define CHECK_FIXES_MAX 8

enum check_level { CHECK_OK, CHECK_NOTE, CHECK_FAIL };

/* What the checks found, in the order they ran, and what to do about it. */
struct check_report {
	struct {
		enum check_level level;
		char text[CHECK_TEXT_MAX];
	} lines[CHECK_LINES_MAX];
	size_t nlines;
	char fixes[CHECK_FIXES_MAX][CHECK_TEXT_MAX]; /* each said once */
	size_t nfixes;
	size_t nfailed; /* lines with CHECK_FAIL */
};

/* One answer of the origin: status 0 when none came. */
struct check_answer {
	long status;
	const char *body; /* may be NULL */
};

/*
 * The requests the checks make, all read-only, and what came back:
 *   root       GET / : PostgREST's OpenAPI description (Supabase answers it
 *              for the secret or service_role key)
 *   columns    GET /profiles?select=<every column>&limit=0
 *   column[i]  GET /profiles?select=<column i>&limit=0, asked only when
 *              columns was refused for a missing column, to name each
 *   apply      POST /rpc/apply_profile_changes {"changes":[]} (an empty
 *              batch writes nothing)
 *   changed    POST /rpc/profilecache_changed_since {"since":"infinity",
 *              "max":1} (a stable function; nothing changed since then)
 *   del        POST /rpc/delete_profile {"id":null}, asked only when root
 *              described nothing: profilecache's function refuses a null id
 *              with 22004 before reading or writing anything
 * unreachable: why no answer came, when none did.
 */
struct check_answers {
	struct check_answer root, columns, column[CHECK_NCOLUMNS], apply,
	    changed, del;
	const char *unreachable;
};

/* The name and the PostgreSQL type (format_type) of column i. */
const char *check_column_name(size_t i);
const char *check_column_type(size_t i);

#ifdef UNITTESTS
/* Make the report from the answers (no I/O). */
void check_origin_report(const struct check_answers *a,
    struct check_report *rep);
#endif

/*
 * Ask the origin (see struct check_answers) and make the report. PC_OK
 * once there is a report, whatever it says (rep->nfailed); PC_NOMEM or
 * PC_ERROR (err) when the checks could not run.
 */
enum pc_result check_origin_run(struct origin *o, struct check_report *rep,
    char *err);

#endif
