// The peer profilecache is compared with: the design a Next.js app would use
// for the same job, a Node `http` server doing cache-aside with ioredis.
//
//   GET   /v1/profiles/{id}  Redis GET; on a hit JSON.parse and JSON.stringify
//                            (what a route handler returning the object does);
//                            on a miss the row from the origin (PostgREST),
//                            then SET with a TTL
//   PATCH /v1/profiles/{id}  the change written to the database first (one
//                            call, as a supabase-js update would make), then
//                            the cached object updated
//
// Configured by the environment: PEER_PORT, PEER_WORKERS (cluster workers),
// REDIS_URL, ORIGIN_URL, SERVICE_KEY, PEER_TTL (seconds, default 60).
'use strict';

const cluster = require('node:cluster');
const http = require('node:http');
const Redis = require('ioredis');

const port = Number(process.env.PEER_PORT || 8090);
const workers = Number(process.env.PEER_WORKERS || 2);
const ttl = Number(process.env.PEER_TTL || 60);
const origin = process.env.ORIGIN_URL;
const serviceKey = process.env.SERVICE_KEY || '';
const select = 'id,username,display_name,bio,avatar_url,gradient,is_private,created_at,updated_at';
const idPattern = /^\/v1\/profiles\/([0-9a-f-]{36})$/;

if (cluster.isPrimary) {
	for (let i = 0; i < workers; i++)
		cluster.fork();
	cluster.on('exit', (w, code) => {
		console.error(`peer: worker ${w.process.pid} exited ${code}`);
		process.exitCode = 1;
	});
	return;
}

const redis = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
// A Supabase secret key (sb_secret_...) goes in apikey alone; a legacy JWT
// service key also as the bearer.
const originHeaders = serviceKey.startsWith('sb_') ? { apikey: serviceKey } :
    { apikey: serviceKey, Authorization: `Bearer ${serviceKey}` };

function send(res, status, obj) {
	const body = JSON.stringify(obj);
	res.writeHead(status, {
		'Content-Type': 'application/json',
		'Content-Length': Buffer.byteLength(body),
	});
	res.end(body);
}

async function readRow(id) {
	const r = await fetch(`${origin}/profiles?id=eq.${id}&select=${select}`, {
		headers: { ...originHeaders, Accept: 'application/vnd.pgrst.object+json' },
	});
	if (r.status === 406)
		return null;
	if (!r.ok)
		throw new Error(`origin ${r.status}`);
	return r.json();
}

async function getProfile(id, res) {
	const key = `peer:profile:${id}`;
	const cached = await redis.get(key);
	if (cached !== null)
		return send(res, 200, { profile: JSON.parse(cached), sync: 'synced' });
	const row = await readRow(id);
	if (row === null)
		return send(res, 404, { error: { code: 'not_found', message: 'no such profile' } });
	await redis.set(key, JSON.stringify(row), 'EX', ttl);
	send(res, 200, { profile: row, sync: 'synced' });
}

// pick: the row's API columns (the apply function answers its bookkeeping too).
function pick(row) {
	const out = {};
	for (const c of select.split(','))
		out[c] = row[c];
	return out;
}

async function readBody(req) {
	const chunks = [];
	for await (const c of req)
		chunks.push(c);
	return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function patchProfile(id, req, res) {
	const patch = await readBody(req);
	const r = await fetch(`${origin}/rpc/apply_profile_changes`, {
		method: 'POST',
		headers: { ...originHeaders, 'Content-Type': 'application/json' },
		body: JSON.stringify({ changes: [{ id, patch, updated_at: new Date().toISOString() }] }),
	});
	if (!r.ok)
		return send(res, 502, { error: { code: 'origin_error', message: `origin ${r.status}` } });
	const { results: [result] = [] } = await r.json();
	const row = result && result.row && pick(result.row);
	if (row)
		await redis.set(`peer:profile:${id}`, JSON.stringify(row), 'EX', ttl);
	send(res, 200, { profile: row, sync: 'synced' });
}

http.createServer((req, res) => {
	const m = idPattern.exec(req.url);
	if (m === null)
		return send(res, 404, { error: { code: 'not_found', message: 'no such route' } });
	const work = req.method === 'GET' ? getProfile(m[1], res) :
	    req.method === 'PATCH' ? patchProfile(m[1], req, res) :
	    Promise.resolve(send(res, 405, { error: { code: 'method_not_allowed', message: req.method } }));
	work.catch((e) => send(res, 503, { error: { code: 'unavailable', message: String(e.message) } }));
}).listen(port, '127.0.0.1');
