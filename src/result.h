/* The one error vocabulary shared by every layer, and what unit tests may reach. */
#ifndef PC_RESULT_H
#define PC_RESULT_H

/*
 * Stores map their client library's errors onto these; routes map them onto
 * HTTP statuses. Details travel separately, in a caller-supplied buffer of
 * PC_ERRLEN bytes (see pc_err()).
 */
enum pc_result {
	PC_OK = 0,
	PC_NOTFOUND,    /* the thing asked for does not exist */
	PC_INVALID,     /* the input is malformed; nothing was tried */
	PC_CONFLICT,    /* lost a race: lock held, CAS mismatch, key exists */
	PC_TOOBIG,      /* a bounded buffer would overflow */
	PC_UNAVAILABLE, /* a dependency is down, timed out or overloaded */
	PC_NOMEM,
	PC_ERROR /* anything else: a bug or a misconfiguration */
};

#define PC_ERRLEN 256

/*
 * UNITTEST marks a function that is static to its file but that the unit
 * tests call (as curl does): static in every build except the unit tests'
 * (-DUNITTESTS, Makefile.am's UNIT_CFLAGS and libprofilecache_unit.a),
 * where its prototype, in its file's header under #ifdef UNITTESTS, makes
 * it reachable.
 */
#ifdef UNITTESTS
#define UNITTEST
#else
#define UNITTEST static
#endif

const char *pc_result_str(enum pc_result r);

/* Format a detail message into err (PC_ERRLEN bytes); err may be NULL. */
void pc_err(char *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
