// Cross-origin calls from a real browser ([http] cors_origins): a page served
// by another origin (two small node HTTP servers on loopback ports, one
// allowed, one not) calls the API with fetch, as profilecache.js does. The
// allowed origin reads (with ETag readable) and writes (a preflighted PATCH
// with Authorization); the other one gets nothing it can read.
//
// Environment: BASE_URL, SAMPLE_PROFILE_ID, TOKEN_ALICE, PC_ALLOWED_PORT,
// PC_OTHER_PORT, PC_CHROMIUM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import puppeteer from 'puppeteer-core';

const env = process.env;
for (const k of ['BASE_URL', 'SAMPLE_PROFILE_ID', 'TOKEN_ALICE', 'PC_ALLOWED_PORT', 'PC_OTHER_PORT']) {
	if (!env[k])
		throw new Error(`${k} is not set: run tests/e2e/t_browser_cors.sh`);
}
const ALICE = env.SAMPLE_PROFILE_ID;
const MODULE = readFileSync(new URL('../../clients/js/profilecache.js', import.meta.url));

// A page and the client module, from an origin that is not the API's.
function serve(port) {
	const s = http.createServer((req, res) => {
		if (req.url === '/profilecache.js') {
			res.writeHead(200, { 'Content-Type': 'text/javascript' });
			res.end(MODULE);
			return;
		}
		res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
		res.end('<!doctype html><title>another origin</title><p>another origin</p>');
	});
	return new Promise((resolve, reject) => {
		s.once('error', reject);
		s.listen(Number(port), '127.0.0.1', () => resolve(s));
	});
}

let browser, servers = [];

before(async () => {
	servers = [await serve(env.PC_ALLOWED_PORT), await serve(env.PC_OTHER_PORT)];
	browser = await puppeteer.launch({
		executablePath: env.PC_CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: [...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : []),
			'--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
	});
});

after(async () => {
	if (browser)
		await browser.close();
	for (const s of servers)
		s.close();
});

// fromOrigin(port, fn, arg): run fn(arg) in a page of http://127.0.0.1:port.
async function fromOrigin(port, fn, arg) {
	const page = await browser.newPage();
	try {
		await page.goto(`http://127.0.0.1:${port}/`);
		return await page.evaluate(fn, arg);
	} finally {
		await page.close();
	}
}

test('a page of an allowed origin reads a profile and sees its ETag', async () => {
	const r = await fromOrigin(env.PC_ALLOWED_PORT, async ({ url }) => {
		try {
			const res = await fetch(url);
			const body = await res.json();
			return { status: res.status, etag: res.headers.get('etag'), username: body.profile.username };
		} catch (e) {
			return { error: String(e) };
		}
	}, { url: `${env.BASE_URL}/profiles/${ALICE}` });
	assert.equal(r.error, undefined);
	assert.equal(r.status, 200);
	assert.equal(r.username, 'alice');
	assert.match(r.etag || '', /^"/, 'ETag is exposed');
});

test('a page of an allowed origin writes through profilecache.js (preflighted PATCH)', async () => {
	const r = await fromOrigin(env.PC_ALLOWED_PORT, async ({ base, id, token }) => {
		const { createClient } = await import('/profilecache.js');
		const c = createClient({ baseUrl: base, token });
		const a = await c.updateProfile(id, { bio: 'written from another origin' });
		c.close();
		return { status: a.status, sync: a.sync, bio: a.profile && a.profile.bio, error: a.error };
	}, { base: env.BASE_URL, id: ALICE, token: env.TOKEN_ALICE });
	assert.deepEqual(r, { status: 202, sync: 'pending', bio: 'written from another origin', error: null });
});

test('a page of another origin cannot read the answer', async () => {
	const r = await fromOrigin(env.PC_OTHER_PORT, async ({ url }) => {
		try {
			const res = await fetch(url);
			return { status: res.status };
		} catch (e) {
			return { error: e.name };
		}
	}, { url: `${env.BASE_URL}/profiles/${ALICE}` });
	assert.deepEqual(r, { error: 'TypeError' }, 'fetch fails: no Access-Control-Allow-Origin for it');
});
