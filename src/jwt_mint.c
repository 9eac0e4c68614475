/* Minting HS256 user tokens with the project's JWT secret, for development. */
#include "autoconf.h"

/*
 * The counterpart of jwt_verify() for HS256 only: the asymmetric keys are
 * Supabase Auth's, which holds their private halves, so a token of theirs
 * can only come from Supabase. Only profilecache-admin links this file.
 */

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"
#include "jwt_mint.h"

/*
 * Append base64url without padding of data[0..len) to out at *pos (out holds
 * size bytes); -1 when it does not fit.
 */
static int
b64url_append(const unsigned char *data, size_t len, char *out, size_t size,
    size_t *pos)
{
	size_t i, n = 4 * ((len + 2) / 3);

	if (n + 1 > size - *pos)
		return -1;
	n = (size_t)EVP_EncodeBlock((unsigned char *)out + *pos, data,
	    (int)len);
	while (n > 0 && out[*pos + n - 1] == '=')
		n--;
	for (i = *pos; i < *pos + n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	*pos += n;
	out[*pos] = '\0';
	return 0;
}

/* Whether s is a claim jwt_verify() takes: 1 to max bytes, no space or
 * control character. */
static int
claim_fits(const char *s, size_t max)
{
	size_t i, n;

	if (s == NULL || (n = strlen(s)) == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

enum pc_result
jwt_mint_hs256(const char *secret, size_t len, const struct jwt_mint *m,
    char **token, char *err)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	enum pc_result r = PC_INVALID;
	json_t *claims = NULL;
	char *payload = NULL, *out = NULL;
	size_t size, pos = 0;

	*token = NULL;
	if (secret == NULL || len < JWT_SECRET_MIN) {
		pc_err(err, "an HS256 secret needs at least %d bytes",
		    JWT_SECRET_MIN);
		goto out;
	}
	if (!claim_fits(m->sub, 63) || !claim_fits(m->role, 31)) {
		pc_err(err,
		    "sub and role must be 1 to 63 and 1 to 31 bytes "
		    "without white space or control characters");
		goto out;
	}
	if (m->exp <= m->iat) {
		pc_err(err, "exp must be after iat");
		goto out;
	}
	r = PC_NOMEM;
	if ((claims = json_pack("{s:s,s:s}", "sub", m->sub, "role", m->role)) ==
	        NULL ||
	    (m->audience != NULL &&
	        json_object_set_new(claims, "aud", json_string(m->audience)) !=
	            0) ||
	    (m->issuer != NULL &&
	        json_object_set_new(claims, "iss", json_string(m->issuer)) !=
	            0) ||
	    json_object_set_new(claims, "iat", json_integer(m->iat)) != 0 ||
	    json_object_set_new(claims, "exp", json_integer(m->exp)) != 0 ||
	    (payload = json_dumps(claims,
	         JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		goto out;
	/* Both parts encoded, two dots, the signature, the NUL. */
	size = 4 * ((sizeof(header) + 2) / 3) +
	    4 * ((strlen(payload) + 2) / 3) + 4 * ((EVP_MAX_MD_SIZE + 2) / 3) +
	    3;
	if ((out = malloc(size)) == NULL)
		goto out;
	/* size is what the encodings take: a failure here is a bug. */
	r = PC_ERROR;
	if (b64url_append((const unsigned char *)header, sizeof(header) - 1,
	        out, size, &pos) != 0)
		goto out;
	out[pos++] = '.';
	if (b64url_append((const unsigned char *)payload, strlen(payload), out,
	        size, &pos) != 0 ||
	    HMAC(EVP_sha256(), secret, (int)len, (const unsigned char *)out,
	        pos, mac, &maclen) == NULL)
		goto out;
	out[pos++] = '.';
	if (b64url_append(mac, maclen, out, size, &pos) != 0)
		goto out;
	*token = out;
	out = NULL;
	r = PC_OK;
out:
	if (r == PC_NOMEM)
		pc_err(err, "out of memory");
	else if (r == PC_ERROR)
		pc_err(err, "signing failed");
	OPENSSL_cleanse(mac, sizeof(mac));
	free(out);
	free(payload);
	json_decref(claims);
	return r;
}
