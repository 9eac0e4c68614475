/* HTTP for image uploads: POST /v1/profiles/{id}/avatar, POST /v1/{resource}/{id}/{image field}. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "buf.h"
#include "multipart.h"
#include "profile.h"
#include "resource.h"
#include "route_auth.h"
#include "route_avatar.h"
#include "route_profile.h"
#include "route_resource.h"
#include "storage.h"
#include "usecase_avatar.h"
#include "uuid.h"

/* Room for the multipart framing around the image itself. */
#define MULTIPART_OVERHEAD (16 * 1024)

struct upload {
	const char *field; /* the image field: its part's name too */
	struct buf image;  /* capped at [avatar] max_bytes */
	bool in_part;      /* inside the image part */
	bool found;        /* the image part was seen */
	bool too_big;
	char part_type[128]; /* the part's Content-Type */
};

static bool
part_begin(void *arg, const struct multipart_part *p)
{
	struct upload *u = arg;

	/* The first "avatar", "file" or field-named part is the image;
	 * others are skipped. */
	if (u->found ||
	    (strcmp(p->name, "avatar") != 0 && strcmp(p->name, "file") != 0 &&
	        strcmp(p->name, u->field) != 0))
		return false;
	u->found = u->in_part = true;
	(void)snprintf(u->part_type, sizeof(u->part_type), "%s",
	    p->content_type);
	return true;
}

static bool
part_data(void *arg, const char *data, size_t len)
{
	struct upload *u = arg;

	if (buf_add(&u->image, data, len) != PC_OK) {
		u->too_big = true;
		return false;
	}
	return true;
}

static void
part_end(void *arg)
{
	struct upload *u = arg;

	u->in_part = false;
}

/*
 * Read the body, CONTENT_LENGTH bytes, in pieces: into the parser for
 * multipart (only the image part is kept), or straight into the buffer.
 */
static enum pc_result
read_body(struct http_request *req, struct multipart *mp, struct upload *u,
    long long length)
{
	char chunk[64 * 1024];
	enum pc_result r = PC_OK;
	long long got = 0;
	long n;

	while (got < length) {
		n = req->read(req->read_ctx, chunk,
		    sizeof(chunk) < (unsigned long long)(length - got) ?
		        sizeof(chunk) :
		        (size_t)(length - got));
		if (n <= 0)
			return PC_INVALID; /* the body ended early */
		got += n;
		r = mp != NULL ? multipart_feed(mp, chunk, (size_t)n) :
		                 buf_add(&u->image, chunk, (size_t)n);
		if (r != PC_OK)
			return r;
	}
	return mp != NULL ? multipart_finish(mp) : PC_OK;
}

/*
 * The upload of an image for field f of row id of rs, by who (allowed to
 * write the row as far as the route can tell; the use-case checks an owner
 * field).
 */
static void
image_post(struct app *app, struct http_request *req,
    struct http_response *resp, const struct resource *rs,
    const struct field *f, const char *id, struct auth_caller *who)
{
	static const struct multipart_callbacks cb = {
		.part_begin = part_begin,
		.part_data = part_data,
		.part_end = part_end,
	};
	const struct config *cfg = &app->cfg;
	struct write_result res;
	struct upload u = { .field = f->name, .found = false };
	struct multipart *mp = NULL;
	const char *ct, *declared = NULL;
	char boundary[80], mtype[128];
	unsigned long long length, cap;
	enum pc_result r;

	memset(&res, 0, sizeof(res));
	buf_init(&u.image, (size_t)cfg->avatar_max_bytes);
	if (!storage_enabled(cfg)) {
		http_error(resp, 503, "avatars_not_configured",
		    "this server stores no avatars ([avatar] dir and public_url, or "
		    "backend = supabase, are not set)");
		goto out;
	}
	ct = http_request_header(req, "CONTENT_TYPE");
	cap = cfg->avatar_max_bytes;
	if (multipart_boundary(ct, boundary, sizeof(boundary)) == PC_OK) {
		cap += MULTIPART_OVERHEAD;
		if ((mp = multipart_new(boundary, &cb, &u)) == NULL) {
			http_error(resp, 500, "internal", "out of memory");
			goto out;
		}
	} else if (ct != NULL && strncasecmp(ct, "multipart/", 10) == 0) {
		http_error(resp, 400, "bad_multipart",
		    "multipart/form-data needs a valid boundary");
		goto out;
	} else if (ct != NULL && strncasecmp(ct, "image/", 6) == 0) {
		declared = ct;
	} else {
		http_error(resp, 415, "unsupported_media_type",
		    "send multipart/form-data or an image/jpeg, png, webp or gif body");
		goto out;
	}
	if ((r = http_content_length(req, &length)) == PC_NOTFOUND) {
		http_error(resp, 411, "length_required",
		    "Content-Length is required");
		goto out;
	}
	if (r != PC_OK) {
		http_error(resp, 400, "bad_body",
		    "Content-Length is not a number");
		goto out;
	}
	if (length > cap) {
		http_error(resp, 413, "body_too_large",
		    "the image is too large");
		goto out;
	}
	if (!route_auth_admit_write(app, who, resp))
		goto out;
	r = read_body(req, mp, &u, length);
	if (r == PC_TOOBIG || u.too_big) {
		http_error(resp, 413, "body_too_large",
		    "the image is too large");
		goto out;
	}
	if (r != PC_OK) {
		http_error(resp, 400, mp ? "bad_multipart" : "bad_body",
		    mp ? "the multipart body is malformed or unterminated" :
		         "the body could not be read");
		goto out;
	}
	if (mp != NULL) {
		if (!u.found) {
			http_error(resp, 400, "no_image_part",
			    "the form has no \"avatar\", \"file\" or field-named part");
			goto out;
		}
		declared = u.part_type;
	}
	/* The media type alone: "image/png; charset=x" -> "image/png". */
	(void)snprintf(mtype, sizeof(mtype), "%.*s",
	    declared ? (int)strcspn(declared, "; \t") : 0,
	    declared ? declared : "");
	switch (usecase_avatar_upload(app, rs, f, id,
	    who->admin ? NULL : who->claims.sub, u.image.data, u.image.len,
	    mtype, route_auth_max_pending(app, who), &res)) {
	case AVATAR_WRITTEN:
		route_resource_write_answer(app, rs, &res, resp);
		break;
	case AVATAR_NOT_AN_IMAGE:
		http_error(resp, 415, "not_an_image",
		    "the body is not a JPEG, PNG, WebP or GIF image, or not the type it claims");
		break;
	case AVATAR_TOO_MANY_PIXELS:
		http_error(resp, 422, "too_many_pixels",
		    "the image has too many pixels");
		break;
	case AVATAR_TIMEOUT:
		http_error(resp, 422, "image_too_slow",
		    "decoding the image took longer than this server allows");
		break;
	case AVATAR_NODE_BUSY:
		http_header_add(resp, "Retry-After", "1");
		http_error(resp, 503, "busy",
		    "too many images are being processed; retry shortly");
		break;
	case AVATAR_USER_BUSY:
		http_header_add(resp, "Retry-After", "%ld",
		    cfg->avatar_timeout_ms / 1000 + 1);
		http_error(resp, 429, "upload_in_progress",
		    "another upload of this account is still being processed");
		break;
	case AVATAR_NOT_CONFIGURED:
	case AVATAR_STORE_FAILED:
		http_header_add(resp, "Retry-After", "%ld",
		    cfg->origin_retry_after);
		http_error(resp, 503, "unavailable",
		    "the image could not be stored");
		break;
	case AVATAR_ERROR:
		http_error(resp, 500, "internal",
		    "the image could not be processed");
		break;
	}
out:
	write_result_release(&res);
	multipart_free(mp);
	buf_free(&u.image);
}

void
route_avatar_post(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	const struct resource *rs = profile_resource();
	struct auth_caller who;
	char id[UUID_LEN + 1];

	if (route_profile_id(req, resp, id) &&
	    route_auth_owner(app, req, resp, id, &who))
		image_post(app, req, resp, rs, resource_field(rs, "avatar_url"),
		    id, &who);
}

void
route_resource_image(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	const struct resource *rs;
	const struct field *f = NULL;
	struct auth_caller who;
	char id[UUID_LEN + 1], name[64];

	if ((rs = resources_find(&app->cfg.resources, req->param[0],
	         req->param_len[0])) == NULL) {
		http_error(resp, 404, "not_found", "no such resource");
		return;
	}
	if (!route_id(rs, req->param[1], req->param_len[1], resp, id))
		return;
	if (req->param_len[2] < sizeof(name)) {
		memcpy(name, req->param[2], req->param_len[2]);
		name[req->param_len[2]] = '\0';
		f = resource_field(rs, name);
	}
	if (f == NULL || f->type != FT_IMAGE) {
		http_error(resp, 404, "not_found", "no such image field");
		return;
	}
	if (route_auth_owner(app, req, resp, rs->owner == rs->key ? id : NULL,
	        &who))
		image_post(app, req, resp, rs, f, id, &who);
}
