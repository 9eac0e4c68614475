/* Whole numbers from text with range checks (OpenBSD strtonum in spirit). */
#ifndef PC_STRNUM_H
#define PC_STRNUM_H

#include "result.h"

/*
 * Parse s, which must be a decimal integer and nothing else (an optional
 * leading minus, no spaces, no plus, no trailing characters), into *out.
 * PC_INVALID when it is not one or lies outside [min, max].
 */
enum pc_result strnum_parse(const char *s, long long min, long long max,
    long long *out);

#endif
