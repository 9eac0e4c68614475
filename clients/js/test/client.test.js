// clients/js/profilecache.js against a real stack (started by
// tests/e2e/t_js_client.sh, which sets the environment below): reads and
// their revalidation, the sync state of writes through the flusher, a change
// the database refuses, the database and the web server away, avatar uploads
// and the API's errors.
//
// Environment: BASE_URL, HTTP_URL, SAMPLE_PROFILE_ID, TOKEN_ALICE,
// TOKEN_BOB (owner tokens), PC_FLUSH_CMD, PC_ORIGIN_STOP_CMD,
// PC_ORIGIN_START_CMD, PC_WEB_STOP_CMD, PC_WEB_START_CMD (shell commands),
// PC_PSQL and DATABASE_URL, MEMCACHED_PORT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, SyncState } from '../profilecache.js';
import { makePng } from './png.js';
import { sh, sql, memcachedFlush } from './stack.js';

const env = process.env;
for (const k of ['BASE_URL', 'HTTP_URL', 'SAMPLE_PROFILE_ID', 'TOKEN_ALICE', 'TOKEN_BOB',
	'PC_FLUSH_CMD', 'PC_ORIGIN_STOP_CMD', 'PC_ORIGIN_START_CMD', 'PC_WEB_STOP_CMD',
	'PC_WEB_START_CMD', 'PC_PSQL', 'DATABASE_URL', 'MEMCACHED_PORT']) {
	if (!env[k])
		throw new Error(`${k} is not set: run tests/e2e/t_js_client.sh`);
}
const ALICE = env.SAMPLE_PROFILE_ID;
const BOB = '7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02';
// Short delays: the flusher is run by the tests, not by cron.
const FAST = { initialDelayMs: 50, maxDelayMs: 200, jitter: 0.2, maxAttempts: 10000 };
// How long a test waits for something that must happen before it fails
// (a bound against hanging, not a measurement).
const PATIENCE_MS = 20000;

function flush() {
	return sh(env.PC_FLUSH_CMD);
}

// recorder(): a fetch that records each request's method and status (0 when
// no answer came), for the client to use.
function recorder() {
	const log = [];
	const f = async (url, init = {}) => {
		const method = init.method || 'GET';
		try {
			const res = await fetch(url, init);
			log.push({ method, status: res.status });
			return res;
		} catch (e) {
			log.push({ method, status: 0 });
			throw e;
		}
	};
	return { log, fetch: f };
}

// until(pred, what): resolve once pred() holds; fail after PATIENCE_MS.
async function until(pred, what) {
	const give_up = Date.now() + PATIENCE_MS;
	while (!pred()) {
		if (Date.now() > give_up)
			throw new Error(`gave up waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 20));
	}
}

// nextSync(client, id, state): the next "sync" event of id in that state.
function nextSync(client, id, state) {
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => {
			off();
			reject(new Error(`no "${state}" sync event for ${id}; state ${client.syncState(id)}`));
		}, PATIENCE_MS);
		const off = client.on('sync', (ev) => {
			if (ev.id === id && ev.state === state) {
				clearTimeout(timer);
				off();
				resolve(ev);
			}
		});
	});
}

function gets(log, from = 0) {
	return log.slice(from).filter((r) => r.method === 'GET');
}

test('a read: MISS, then If-None-Match answered 304 with the held profile, then HIT', async () => {
	const c = createClient({ baseUrl: env.BASE_URL });
	const a = await c.getProfile(BOB);
	assert.equal(a.status, 200);
	assert.equal(a.xCache, 'MISS');
	assert.equal(a.profile.username, 'bob');
	assert.equal(a.sync, 'synced');
	assert.match(a.etag, /^"/);
	assert.equal(a.error, null);
	const b = await c.getProfile(BOB);
	assert.equal(b.status, 304, 'the held ETag was sent');
	assert.equal(b.notModified, true);
	assert.deepEqual(b.profile, a.profile, 'a 304 answers with the held profile');
	assert.equal(b.sync, 'synced');
	assert.equal(b.etag, a.etag);
	const other = await createClient({ baseUrl: env.BASE_URL }).getProfile(BOB);
	assert.equal(other.status, 200, 'a client without the ETag gets the body');
	assert.equal(other.xCache, 'HIT');
	assert.equal(c.syncState(BOB), null, 'reads alone track nothing');
});

test('a missing profile is 404 not_found, a malformed id 400 invalid_id', async () => {
	const c = createClient({ baseUrl: env.BASE_URL });
	const a = await c.getProfile('0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d');
	assert.equal(a.status, 404);
	assert.equal(a.error.code, 'not_found');
	assert.equal(a.profile, null);
	const b = await c.getProfile('not-a-uuid');
	assert.equal(b.status, 400);
	assert.equal(b.error.code, 'invalid_id');
});

test('an update is pending, revalidated with 304s, and synced once the flusher applied it', async () => {
	const r = recorder();
	const c = createClient({ baseUrl: env.BASE_URL, token: env.TOKEN_ALICE, fetch: r.fetch, sync: FAST });
	const events = [];
	c.on('sync', (ev) => events.push(ev));
	const name = `Alice ${Date.now()}`;
	const a = await c.updateProfile(ALICE, { display_name: name });
	assert.equal(a.status, 202);
	assert.equal(a.sync, 'pending');
	assert.equal(a.profile.display_name, name);
	assert.equal(c.syncState(ALICE), SyncState.PENDING);
	assert.deepEqual(events.map((e) => [e.id, e.state]), [[ALICE, 'pending']]);
	const after = r.log.length;
	await until(() => gets(r.log, after).length >= 3, 'three revalidations');
	assert.deepEqual(gets(r.log, after).slice(0, 3).map((x) => x.status), [304, 304, 304],
		'nothing changed: each revalidation is a 304');
	assert.equal(c.syncState(ALICE), SyncState.PENDING, 'still pending before the flusher ran');
	const synced = nextSync(c, ALICE, 'synced');
	const f = flush();
	assert.equal(f.code, 0, f.err);
	const ev = await synced;
	assert.equal(ev.profile.display_name, name, 'the event carries the new value');
	assert.equal(c.syncState(ALICE), SyncState.SYNCED);
	assert.equal(r.log.at(-1).status, 200, 'the synced entry came with a new ETag');
	assert.equal(sql(`select display_name from profiles where id = '${ALICE}'`), name);
	const n = r.log.length;
	await new Promise((res) => setTimeout(res, 300));
	assert.equal(r.log.length, n, 'no revalidation once synced');
	c.close();
});

test('a change the database refuses: failed, with the refused field', async () => {
	sql(`alter table public.profiles add constraint t_js_client_bio
		check (bio is distinct from 'refused by the database') not valid`);
	try {
		const c = createClient({ baseUrl: env.BASE_URL, token: env.TOKEN_BOB, sync: FAST });
		const failed = nextSync(c, BOB, 'failed');
		const a = await c.updateProfile(BOB, { bio: 'refused by the database' });
		assert.equal(a.status, 202);
		assert.equal(c.syncState(BOB), SyncState.PENDING);
		const f = flush();
		assert.equal(f.code, 65, `the flusher dead-letters it (exit 65): ${f.err}`);
		const ev = await failed;
		assert.deepEqual(ev.failed, ['bio']);
		assert.equal(c.syncState(BOB), SyncState.FAILED);
		assert.deepEqual(c.syncInfo(BOB).failed, ['bio']);
		c.close();
	} finally {
		sql('alter table public.profiles drop constraint t_js_client_bio');
	}
});

test('the database away: pending through 503s and a web server down, synced once back', async () => {
	const r = recorder();
	const c = createClient({ baseUrl: env.BASE_URL, token: env.TOKEN_ALICE, fetch: r.fetch, sync: FAST });
	const bio = `written while the database is away ${Date.now()}`;
	const events = [];
	c.on('sync', (ev) => events.push(`${ev.state}:${ev.error ? ev.error.code : ''}`));
	let origin_down = false, web_down = false;
	try {
		assert.equal(sh(env.PC_ORIGIN_STOP_CMD).code, 0, 'the origin stopped');
		origin_down = true;
		const a = await c.updateProfile(ALICE, { bio });
		assert.equal(a.status, 202, 'the journal takes the change with the database away');
		assert.equal(a.sync, 'pending');
		const f = flush();
		assert.equal(f.code, 75, `the flusher says retry later (exit 75): ${f.err}`);
		let from = r.log.length;
		await until(() => gets(r.log, from).length >= 2, 'revalidations');
		assert.equal(c.syncState(ALICE), SyncState.PENDING);

		// Nothing cached and the database away: 503 with Retry-After.
		await memcachedFlush();
		from = r.log.length;
		await until(() => gets(r.log, from).some((x) => x.status === 503), 'a 503');
		const direct = await createClient({ baseUrl: env.BASE_URL }).getProfile(ALICE);
		assert.equal(direct.status, 503);
		assert.equal(direct.error.code, 'origin_unavailable');
		assert.equal(direct.retryAfter, 1, 'Retry-After is surfaced');
		assert.equal(c.syncState(ALICE), SyncState.PENDING, 'a 503 keeps it pending');
		assert.equal(c.syncInfo(ALICE).error.code, 'origin_unavailable');

		// No answer at all.
		assert.equal(sh(env.PC_WEB_STOP_CMD).code, 0, 'the web server stopped');
		web_down = true;
		from = r.log.length;
		await until(() => gets(r.log, from).some((x) => x.status === 0), 'a network error');
		assert.equal(c.syncState(ALICE), SyncState.PENDING, 'a network error keeps it pending');
		assert.equal(c.syncInfo(ALICE).error.code, 'network_error');

		const synced = nextSync(c, ALICE, 'synced');
		assert.equal(sh(env.PC_WEB_START_CMD).code, 0, 'the web server started again');
		web_down = false;
		assert.equal(sh(env.PC_ORIGIN_START_CMD).code, 0, 'the origin started again');
		origin_down = false;
		const g = flush();
		assert.equal(g.code, 0, g.err);
		const ev = await synced;
		assert.equal(ev.profile.bio, bio);
		assert.equal(c.syncState(ALICE), SyncState.SYNCED);
		// Subscribers heard the reads start failing, and how, while pending.
		assert.equal(events[0], 'pending:');
		const u = events.indexOf('pending:origin_unavailable');
		assert.ok(u > 0, events.join(' '));
		assert.ok(events.indexOf('pending:network_error') > u, events.join(' '));
		assert.equal(events.at(-1), 'synced:');
		assert.equal(events.filter((e) => e.startsWith('synced')).length, 1, events.join(' '));
	} finally {
		if (web_down)
			sh(env.PC_WEB_START_CMD);
		if (origin_down)
			sh(env.PC_ORIGIN_START_CMD);
		c.close();
	}
});

test('an avatar upload answers the new URL, which serves the image at once', async () => {
	const c = createClient({ baseUrl: env.BASE_URL, token: env.TOKEN_ALICE, sync: FAST });
	const png = makePng(64, 48, [200, 30, 30], [30, 30, 200]);
	const a = await c.uploadAvatar(ALICE, png, 'image/png');
	assert.equal(a.status, 202, JSON.stringify(a.error));
	assert.equal(a.sync, 'pending');
	assert.ok(a.profile.avatar_url.startsWith(`${env.HTTP_URL}/avatars/`), a.profile.avatar_url);
	assert.equal(c.syncState(ALICE), SyncState.PENDING);
	const img = await fetch(a.profile.avatar_url);
	assert.equal(img.status, 200);
	assert.equal(img.headers.get('content-type'), 'image/webp');
	const bytes = Buffer.from(await img.arrayBuffer());
	assert.equal(bytes.subarray(0, 4).toString('latin1'), 'RIFF');
	assert.equal(bytes.subarray(8, 12).toString('latin1'), 'WEBP');

	// A Blob carries its own type; another image, another URL.
	const blob = new Blob([makePng(32, 32, [0, 160, 0], [250, 250, 0])], { type: 'image/png' });
	const b = await c.uploadAvatar(ALICE, blob);
	assert.equal(b.status, 202);
	assert.notEqual(b.profile.avatar_url, a.profile.avatar_url);
	assert.equal((await fetch(b.profile.avatar_url)).status, 200);

	const t = await c.uploadAvatar(ALICE, Buffer.from('not an image'), 'image/png');
	assert.equal(t.status, 415);
	assert.match(t.error.code, /^[a-z_]+$/);
	c.close();
});

test('the API\'s errors come back with their codes; refused writes track nothing', async () => {
	const bad = createClient({ baseUrl: env.BASE_URL, token: 'not.a.token' });
	const a = await bad.updateProfile(ALICE, { bio: 'x' });
	assert.equal(a.status, 401);
	assert.equal(a.error.code, 'token_malformed');
	const none = createClient({ baseUrl: env.BASE_URL, getToken: async () => null });
	const n = await none.updateProfile(ALICE, { bio: 'x' });
	assert.equal(n.status, 401, 'getToken() giving nothing sends no token');
	assert.equal(n.error.code, 'missing_credentials');

	const c = createClient({ baseUrl: env.BASE_URL, getToken: async () => env.TOKEN_ALICE });
	const v = await c.updateProfile(ALICE, { display_name: 'a\u0007b', gradient: 'red' });
	assert.equal(v.status, 422);
	assert.equal(v.error.code, 'invalid_fields');
	assert.deepEqual(Object.keys(v.error.fields).sort(), ['display_name', 'gradient']);
	const o = await c.updateProfile(BOB, { bio: 'x' });
	assert.equal(o.status, 403);
	assert.equal(o.error.code, 'forbidden');
	const p = await c.replaceProfile(ALICE, { bio: 'x' }, { ifMatch: '"stale"' });
	assert.equal(p.status, 412);
	assert.equal(p.error.code, 'precondition_failed');
	for (const id of [ALICE, BOB])
		assert.equal(c.syncState(id), null);

	// ifMatch: true sends the ETag the client holds.
	const g = await c.getProfile(ALICE);
	assert.equal(g.status, 200);
	const w = await c.updateProfile(ALICE, { bio: 'with If-Match' }, { ifMatch: true });
	assert.equal(w.status, 202);
	const s = await c.updateProfile(ALICE, { bio: 'with a stale If-Match' }, { ifMatch: g.etag });
	assert.equal(s.status, 412);
	c.close();
});

test('an aborted read rejects with AbortError', async () => {
	const c = createClient({ baseUrl: env.BASE_URL });
	const ac = new AbortController();
	ac.abort();
	await assert.rejects(c.getProfile(ALICE, { signal: ac.signal }), { name: 'AbortError' });
});
