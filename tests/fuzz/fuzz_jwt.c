/* libFuzzer: bearer tokens against an HS256 secret. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct jwt_keys *keys;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jwt_policy policy = { .audience = "authenticated",
		.leeway_s = 30 };
	struct jwt_claims claims;
	char err[PC_ERRLEN], path[] = "/tmp/pc-fuzz-jwt-XXXXXX";
	FILE *f;
	int fd;

	if (keys == NULL) {
		if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL)
			abort();
		fputs("fuzzing-secret-fuzzing-secret-fuzzing-secret\n", f);
		fclose(f);
		(void)chmod(path, 0600);
		if (jwt_keys_load(path, NULL, &keys, err) != PC_OK)
			abort();
		unlink(path);
	}
	(void)jwt_verify(keys, (const char *)data, size, &policy, 1800000000,
	    &claims, NULL, err);
	return 0;
}
