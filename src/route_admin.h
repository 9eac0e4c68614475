/* HTTP for /v1/admin/...: what operators and the database call. */
#ifndef PC_ROUTE_ADMIN_H
#define PC_ROUTE_ADMIN_H

#include "http.h"

struct app;

/*
 * POST /v1/admin/invalidate, the target of a Supabase Database Webhook on
 * public.profiles (the admin only: the secret key in apikey). The body is
 * the webhook's {"type":"INSERT|UPDATE|DELETE","table":"profiles",
 * "record":{...},"old_record":{...}}: a cached entry of the profile is
 * refreshed from the database (merged field by field), or dropped after a
 * DELETE. 200 {"id","action":"refreshed|dropped"}; 400 for a body that
 * names no profile; 401/403; 503 when the database cannot be read (the
 * entry is dropped then, so no stale view stays).
 */
void route_admin_invalidate(struct app *app, struct http_request *req,
    struct http_response *resp);

#endif
