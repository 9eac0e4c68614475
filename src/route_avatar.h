/* HTTP for image uploads: POST /v1/profiles/{id}/avatar, POST /v1/{resource}/{id}/{image field}. */
#ifndef PC_ROUTE_AVATAR_H
#define PC_ROUTE_AVATAR_H

#include "http.h"

struct app;

/*
 * POST /v1/profiles/{id}/avatar: the owner uploads an image, as
 * multipart/form-data (part "avatar" or "file") or as a raw image body (image/jpeg, png, webp, gif).
 * 202 with the profile and its new avatar_url; 413 over [avatar] max_bytes
 * (the excess is not read), 415 not an image or not what it claims, 422
 * too many pixels, 400 malformed multipart.
 */
void route_avatar_post(struct app *app, struct http_request *req,
    struct http_response *resp);

/*
 * POST /v1/{resource}/{id}/{field}: the same for an image field of a
 * declared resource (the part may also be named as the field), by the
 * row's owner or the admin; the row must exist (404). 202 with the row.
 */
void route_resource_image(struct app *app, struct http_request *req,
    struct http_response *resp);

#endif
