/*
 * libFuzzer: resource declarations (INI text), and for a declaration with
 * every field type, list query strings, request bodies and database rows.
 * The input's first byte picks which.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "resource.h"
#include "usecase_list.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char declaration[] =
    "[resource things]\nitem = thing\nowner = user_id\nvisibility = hidden\n"
    "[field things.id]\ntype = uuid\npolicy = readonly\nsort = true\n"
    "[field things.user_id]\ntype = uuid\npolicy = server\nfilter = true\n"
    "[field things.title]\ntype = text\nmin_length = 1\nmax_length = 20\n"
    "pattern = [a-z ]*\nfilter = true\nsort = true\n"
    "[field things.note]\ntype = text\nmultiline = true\n"
    "[field things.status]\ntype = enum\nvalues = a, b\nfilter = true\n"
    "[field things.n]\ntype = integer\nmin = -5\nmax = 5\nfilter = true\nsort = true\n"
    "[field things.x]\ntype = number\nsort = true\n"
    "[field things.hidden]\ntype = boolean\nfilter = true\n"
    "[field things.at]\ntype = timestamp\nfilter = true\n"
    "[field things.meta]\ntype = json\nmax_bytes = 64\n"
    "[field things.pic]\ntype = image\nmax_length = 100\n"
    "[field things.updated_at]\ntype = timestamp\npolicy = server\n";

static struct resources things;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[PC_ERRLEN], *text, *body = NULL;
	struct resource_meta meta;
	struct resources set;
	struct list_query q;
	json_t *patch = NULL, *errors = NULL, *row;
	json_error_t jerr;
	size_t len;

	if (things.n == 0 &&
	    resources_parse(&things, declaration, err) != PC_OK)
		abort();
	if (size == 0 || (text = malloc(size)) == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0:
		if (resources_parse(&set, text, err) == PC_OK)
			resources_free(&set);
		break;
	case 1:
		(void)list_query_parse(&things.v[0], text, &q, err);
		break;
	default:
		(void)resource_patch_parse(&things.v[0], text, size - 1,
		    size % 2, size % 3 == 0, &patch, &errors);
		json_decref(patch);
		json_decref(errors);
		if ((row = json_loadb(text, size - 1, 0, &jerr)) != NULL &&
		    resource_render(&things.v[0], row,
		        "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01",
		        RESOURCE_PENDING, NULL, &body, &len, &meta,
		        err) == PC_OK)
			free(body);
		json_decref(row);
		break;
	}
	free(text);
	return 0;
}
