/* Canonical UUID checks: the only id form the API accepts. */
#ifndef PC_UUID_H
#define PC_UUID_H

#include <stdbool.h>
#include <stddef.h>

#define UUID_LEN 36

/*
 * True when s[0..len) is a UUID in canonical lower-case form:
 * 8-4-4-4-12 lower-case hex digits. Nothing else (no braces, upper case,
 * urn: prefix or missing dashes) is accepted.
 */
bool uuid_is_canonical(const char *s, size_t len);

/* A new random (version 4) UUID in canonical form, NUL-terminated. */
void uuid_v4(char out[UUID_LEN + 1]);

#endif
