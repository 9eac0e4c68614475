/* libFuzzer: request bodies of PUT/PATCH and database rows into response bodies. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *patch = NULL, *errors = NULL;
	struct profile_meta meta;
	char err[PC_ERRLEN], *body = NULL;
	size_t len;

	(void)profile_patch_parse((const char *)data, size, size % 2, &patch,
	    &errors);
	json_decref(patch);
	json_decref(errors);
	if (profile_render((const char *)data, size,
	        "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01", PROFILE_SYNCED, &body,
	        &len, &meta, err) == PC_OK)
		free(body);
	return 0;
}
