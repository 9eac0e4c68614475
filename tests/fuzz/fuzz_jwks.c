/* libFuzzer: key sets as fetched from [auth] jwks_url, and Cache-Control values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwks.h"
#include "jwt.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jwt_keys *keys = NULL;
	char err[PC_ERRLEN], *text;

	/* Skipped keys are logged: not a finding. */
	log_set_level(LOG_LVL_ERROR);
	if (jwt_keys_with_jwks(NULL, (const char *)data, size, "url", "fuzz",
	        &keys, err) == PC_OK)
		(void)jwt_keys_count(keys);
	jwt_keys_free(keys);
	/* The same bytes as header values. */
	if ((text = malloc(size + 1)) == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	(void)jwks_lifetime(text, text, 600);
	free(text);
	return 0;
}
