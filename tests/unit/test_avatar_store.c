/* avatar_store_put: a file named by its bytes, whole, even when stored at once. */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "avatar_store.h"
#include "result.h"

#define IMAGE_LEN (256 * 1024) /* long enough for writes to overlap */
#define ROUNDS 200
#define WRITERS 2

static char dir[] = "/tmp/pc-avatar-store.XXXXXX";
static unsigned char image[IMAGE_LEN];

static int
setup(void **state)
{
	size_t i;

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	for (i = 0; i < sizeof(image); i++)
		image[i] = (unsigned char)(i * 7 + i / 251);
	return 0;
}

/* Remove what the tests stored: dir/ab/ and the files in it. */
static int
teardown(void **state)
{
	char path[4096], sub[4096];
	struct dirent *d, *f;
	DIR *top, *in;

	(void)state;
	if ((top = opendir(dir)) == NULL)
		return -1;
	while ((d = readdir(top)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir,
		        d->d_name) >= sizeof(sub) ||
		    (in = opendir(sub)) == NULL)
			continue;
		while ((f = readdir(in)) != NULL) {
			if (strcmp(f->d_name, ".") == 0 ||
			    strcmp(f->d_name, "..") == 0)
				continue;
			if ((size_t)snprintf(path, sizeof(path), "%s/%s", sub,
			        f->d_name) < sizeof(path))
				(void)unlink(path);
		}
		(void)closedir(in);
		(void)rmdir(sub);
	}
	(void)closedir(top);
	return rmdir(dir);
}

/* The file at dir/relpath holds exactly image. */
static bool
stored_whole(const char *relpath)
{
	char path[4096];
	unsigned char *got;
	bool same = false;
	size_t n;
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, relpath);
	if ((f = fopen(path, "rb")) == NULL)
		return false;
	if ((got = malloc(IMAGE_LEN + 1)) != NULL) {
		n = fread(got, 1, IMAGE_LEN + 1, f);
		same = n == IMAGE_LEN && memcmp(got, image, IMAGE_LEN) == 0;
		free(got);
	}
	(void)fclose(f);
	return same;
}

/* Nothing but the stored file in its directory: no temporary left. */
static size_t
files_in(const char *relpath)
{
	char sub[4096];
	struct dirent *d;
	size_t n = 0;
	DIR *in;

	(void)snprintf(sub, sizeof(sub), "%s/%.2s", dir, relpath);
	if ((in = opendir(sub)) == NULL)
		return 0;
	while ((d = readdir(in)) != NULL)
		n +=
		    strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
	(void)closedir(in);
	return n;
}

static void
test_put(void **state)
{
	char relpath[AVATAR_RELPATH_LEN], path[4096], err[PC_ERRLEN];
	struct stat st;

	(void)state;
	assert_int_equal(avatar_store_put(dir, image, sizeof(image), relpath,
	                     err),
	    PC_OK);
	assert_int_equal(strlen(relpath), AVATAR_RELPATH_LEN - 1);
	assert_memory_equal(relpath, relpath + 3, 2);
	assert_true(stored_whole(relpath));
	(void)snprintf(path, sizeof(path), "%s/%s", dir, relpath);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644); /* the web server reads it */
	assert_int_equal(files_in(relpath), 1);
	/* The same bytes again: the same name, the file kept. */
	assert_int_equal(avatar_store_put(dir, image, sizeof(image), path, err),
	    PC_OK);
	assert_string_equal(path, relpath);
	assert_int_equal(files_in(relpath), 1);
}

struct writer {
	pthread_barrier_t *start, *done;
	enum pc_result r[ROUNDS];
	char relpath[AVATAR_RELPATH_LEN];
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	char err[PC_ERRLEN];
	size_t i;

	for (i = 0; i < ROUNDS; i++) {
		(void)pthread_barrier_wait(w->start);
		w->r[i] = avatar_store_put(dir, image, sizeof(image),
		    w->relpath, err);
		(void)pthread_barrier_wait(w->done);
	}
	return NULL;
}

/*
 * Two threads of one process store the same bytes at once, ROUNDS times
 * (the file removed before each round): each is told OK only with the
 * whole file in place.
 */
static void
test_put_same_bytes_at_once(void **state)
{
	pthread_barrier_t start, done;
	struct writer w[WRITERS];
	char relpath[AVATAR_RELPATH_LEN], path[4096], err[PC_ERRLEN];
	pthread_t t[WRITERS];
	size_t i, k, failed = 0, cut = 0;

	(void)state;
	assert_int_equal(avatar_store_name(image, sizeof(image), relpath, err),
	    PC_OK);
	(void)snprintf(path, sizeof(path), "%s/%s", dir, relpath);
	assert_int_equal(pthread_barrier_init(&start, NULL, WRITERS + 1), 0);
	assert_int_equal(pthread_barrier_init(&done, NULL, WRITERS + 1), 0);
	for (k = 0; k < WRITERS; k++) {
		w[k].start = &start;
		w[k].done = &done;
		assert_int_equal(pthread_create(&t[k], NULL, writer_main,
		                     &w[k]),
		    0);
	}
	for (i = 0; i < ROUNDS; i++) {
		(void)unlink(path);
		(void)pthread_barrier_wait(&start);
		(void)pthread_barrier_wait(&done);
		for (k = 0; k < WRITERS; k++)
			failed += w[k].r[i] != PC_OK;
		cut += !stored_whole(relpath);
	}
	for (k = 0; k < WRITERS; k++)
		assert_int_equal(pthread_join(t[k], NULL), 0);
	(void)pthread_barrier_destroy(&start);
	(void)pthread_barrier_destroy(&done);
	assert_int_equal(failed, 0);
	assert_int_equal(cut, 0);
	assert_int_equal(files_in(relpath), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put),
		cmocka_unit_test(test_put_same_bytes_at_once),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
