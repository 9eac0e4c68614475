/* HTTP for /v1/profiles/{id}. */
#include "autoconf.h"

#include <string.h>

#include "app.h"
#include "profile.h"
#include "route_profile.h"
#include "usecase_profile_read.h"
#include "uuid.h"

static const char *const source_names[] = {
	[READ_HIT] = "HIT",
	[READ_MISS] = "MISS",
	[READ_STALE] = "STALE",
};

static void
profile_refresh_after(struct app *app, const char *id)
{
	usecase_profile_refresh(app, id);
}

/*
 * Copy and validate the {id} segment. False (with a 400 in resp) when it is
 * not a canonical UUID: nothing else has been tried yet.
 */
static bool
profile_id(const struct http_request *req, struct http_response *resp,
    char id[UUID_LEN + 1])
{
	if (!uuid_is_canonical(req->param[0], req->param_len[0])) {
		http_error(resp, 400, "invalid_id",
		    "profile id must be a UUID in canonical lower-case form");
		return false;
	}
	memcpy(id, req->param[0], UUID_LEN);
	id[UUID_LEN] = '\0';
	return true;
}

void
route_profile_get(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	struct profile_read rd;
	struct cache_entry *e = &rd.entry;
	char id[UUID_LEN + 1], etag[HTTP_ETAG_LEN];
	const char *body;
	size_t len;

	if (!profile_id(req, resp, id))
		return;
	usecase_profile_read(app, id, &rd);
	switch (rd.result) {
	case PC_OK:
		break;
	case PC_UNAVAILABLE:
		http_header_add(resp, "Retry-After", "%ld", app->cfg.origin_retry_after);
		http_error(resp, 503, "origin_unavailable",
		    "the database is unavailable and this profile is not cached");
		goto out;
	default:
		http_error(resp, 502, "bad_origin_answer",
		    "the database answered in an unexpected way");
		goto out;
	}

	http_header_add(resp, "X-Cache", "%s", source_names[rd.source]);
	http_header_add(resp, "Cache-Control", "no-cache");
	if (rd.refresh)
		http_after(resp, profile_refresh_after, id);
	if (e->flags & (CACHE_F_NOTFOUND | CACHE_F_PRIVATE)) {
		/* XXX private profiles are hidden from everyone until the
		 * owner can authenticate (the deferred-writes work). */
		body = profile_not_found_body(&len);
		http_body(resp, 404, "application/json", body, len, NULL);
		goto out;
	}
	http_etag_format(e->tag, etag);
	http_header_add(resp, "ETag", "%s", etag);
	if (http_etag_match(http_request_header(req, "HTTP_IF_NONE_MATCH"), etag)) {
		http_body(resp, 304, NULL, NULL, 0, NULL);
		goto out;
	}
	/* The response takes over the cached value; the body points into it. */
	http_body(resp, 200, "application/json", e->body, e->body_len, e->raw);
	e->raw = NULL;
out:
	profile_read_release(&rd);
}
