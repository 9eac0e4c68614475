/* Minting HS256 user tokens with the project's JWT secret, for development. */
#ifndef PC_JWT_MINT_H
#define PC_JWT_MINT_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"

/* What a minted token says; the claims jwt_verify() checks. */
struct jwt_mint {
	const char *sub;      /* "sub": the user id */
	const char *role;     /* "role": "authenticated", "anon", ... */
	const char *audience; /* "aud"; NULL: none */
	const char *issuer;   /* "iss"; NULL: none */
	int64_t iat;          /* "iat", seconds since the epoch */
	int64_t exp;          /* "exp"; after iat */
};

/*
 * Sign m's claims as a compact JWS with HS256 and secret[0..len), the bytes
 * of [auth] jwt_secret_file as jwt_keys_load() reads them (at least
 * JWT_SECRET_MIN bytes). The header is {"alg":"HS256","typ":"JWT"}; the
 * payload holds sub, role, aud and iss when given, iat and exp.
 *
 * PC_OK: *token is the NUL-terminated token, malloc()ed and owned by the
 * caller. PC_INVALID: a secret too short, sub or role empty or not fit for
 * jwt_verify() (more than 63 or 31 bytes, white space or control
 * characters), or exp not after iat; err says which, never with the secret.
 * PC_NOMEM or PC_ERROR (OpenSSL failed). *token is NULL unless PC_OK.
 */
enum pc_result jwt_mint_hs256(const char *secret, size_t len,
    const struct jwt_mint *m, char **token, char *err);

#endif
