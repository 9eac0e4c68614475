/* Verifying a user's token with the keys the node holds, newer ones included. */
#ifndef PC_USECASE_AUTH_H
#define PC_USECASE_AUTH_H

#include <stddef.h>

#include "jwt.h"
#include "result.h"

struct app;

/*
 * Verify token[0..len) (what follows "Bearer ") by [auth]'s policy with the
 * keys of [auth] jwt_secret_file and jwks_file or jwks_url. Under jwks_url a
 * token that names a kid the set lacks makes the set be fetched again (at
 * most once per jwks_refetch_interval for the node) and is then verified
 * once more, so a rotated key is accepted without a restart.
 *
 * PC_OK: *claims filled. PC_UNAVAILABLE: the token cannot be judged yet: no
 * key set could be had from jwks_url (no cache file, and the fetch failed)
 * and the token names a kid, or there is not even a secret. Anything else:
 * refused, as jwt_verify() refuses, or PC_INVALID when no key is configured
 * at all (JWT_REFUSAL_UNKNOWN_KEY). *why says why a token was refused, as
 * jwt_verify() sets it; JWT_REFUSAL_NONE otherwise. err holds the reason,
 * never the token or key material.
 */
enum pc_result usecase_auth_verify(struct app *app, const char *token,
    size_t len, struct jwt_claims *claims, enum jwt_refusal *why, char *err);

#endif
