// The demo page (clients/demo) in real headless Chromium, driven by
// puppeteer-core, against the stack tests/e2e/t_browser.sh started: load,
// edit -> "Saved (syncing)" -> the flusher -> "Saved", an avatar upload shown
// at once, a field refused, a change the database refuses, the database away.
//
// Environment: DEMO_URL, HTTP_URL, SAMPLE_PROFILE_ID, the commands of
// e2e_export_commands (tests/e2e/lib.sh), DATABASE_URL, MEMCACHED_PORT,
// PC_CHROMIUM (default /usr/bin/chromium), PC_DEMO_SCREENSHOT (where the
// screenshot goes), PC_TMP (a scratch directory).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { makePng } from '../../clients/js/test/png.js';
import { sh, sql, memcachedFlush } from '../../clients/js/test/stack.js';

const env = process.env;
for (const k of ['DEMO_URL', 'HTTP_URL', 'SAMPLE_PROFILE_ID', 'PC_FLUSH_CMD', 'PC_ORIGIN_STOP_CMD',
	'PC_ORIGIN_START_CMD', 'PC_PSQL', 'DATABASE_URL', 'MEMCACHED_PORT', 'PC_DEMO_SCREENSHOT', 'PC_TMP']) {
	if (!env[k])
		throw new Error(`${k} is not set: run tests/e2e/t_browser.sh`);
}
const ALICE = env.SAMPLE_PROFILE_ID;
// Bound on waiting for the page (against hanging, not a measurement): the
// demo revalidates at most every 5 s.
const PATIENCE_MS = 15000;

let browser, page;
const pageErrors = [];

// badge(state): wait until the badge is in state; its text.
async function badge(state) {
	try {
		await page.waitForFunction((s) => document.getElementById('badge').dataset.state === s,
			{ timeout: PATIENCE_MS }, state);
	} catch (e) {
		const now = await page.$eval('#badge', (b) => `${b.dataset.state} "${b.textContent}"`);
		const msg = await page.$eval('#message', (m) => m.textContent);
		throw new Error(`the badge never said ${state}; it says ${now}; message "${msg}"`);
	}
	return page.$eval('#badge', (b) => b.textContent);
}

const text = (sel) => page.$eval(sel, (e) => e.textContent);

async function setField(sel, value) {
	await page.$eval(sel, (e, v) => { e.value = v; }, value);
}

before(async () => {
	browser = await puppeteer.launch({
		executablePath: env.PC_CHROMIUM || '/usr/bin/chromium',
		headless: true,
		// Chromium's sandbox needs user namespaces that root (and many
		// containers) cannot have.
		args: [...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : []),
			'--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
	});
	page = await browser.newPage();
	await page.setViewport({ width: 720, height: 900 });
	page.on('pageerror', (e) => pageErrors.push(String(e)));
});

after(async () => {
	if (browser)
		await browser.close();
});

test('the page shows the sample profile, saved', async () => {
	await page.goto(env.DEMO_URL, { waitUntil: 'load' });
	assert.equal(await badge('synced'), 'Saved');
	assert.equal(await text('#card-name'), 'Alice Liddell');
	assert.equal(await text('#card-username'), '@alice');
	assert.equal(await page.$eval('#name-input', (e) => e.value), 'Alice Liddell');
});

test('an edit says "Saved (syncing)", then "Saved" once the flusher applied it', async () => {
	await setField('#name-input', 'Alice in Chromium');
	await page.click('#save');
	assert.equal(await badge('pending'), 'Saved (syncing)');
	assert.equal(await text('#card-name'), 'Alice in Chromium');
	assert.equal(sql(`select display_name from profiles where id = '${ALICE}'`), 'Alice Liddell',
		'not in the database yet');
	const f = sh(env.PC_FLUSH_CMD);
	assert.equal(f.code, 0, f.err);
	assert.equal(await badge('synced'), 'Saved');
	assert.equal(sql(`select display_name from profiles where id = '${ALICE}'`), 'Alice in Chromium');
	assert.match(await text('#message'), /database has the change/);
});

test('an avatar chosen in the file input shows at once from its new URL', async () => {
	const file = path.join(env.PC_TMP, 'avatar.png');
	writeFileSync(file, makePng(120, 90, [79, 70, 229], [245, 158, 11]));
	const input = await page.$('#avatar-file');
	await input.uploadFile(file);
	await page.waitForFunction((prefix) => {
		const img = document.getElementById('card-avatar');
		return img.src.startsWith(prefix) && img.complete && img.naturalWidth > 0;
	}, { timeout: PATIENCE_MS }, `${env.HTTP_URL}/avatars/`);
	const [w, h] = await page.$eval('#card-avatar', (i) => [i.naturalWidth, i.naturalHeight]);
	assert.deepEqual([w, h], [256, 256], 'the stored avatar is the 256 x 256 WebP');
	assert.equal(await page.$eval('#card', (c) => c.classList.contains('no-avatar')), false);
	assert.equal(await badge('pending'), 'Saved (syncing)');
	const f = sh(env.PC_FLUSH_CMD);
	assert.equal(f.code, 0, f.err);
	assert.equal(await badge('synced'), 'Saved');
	await page.screenshot({ path: env.PC_DEMO_SCREENSHOT });
});

test('a field the API refuses is shown next to its input, nothing saved', async () => {
	await setField('#name-input', 'Alice\u202Eecila');
	await page.click('#save');
	await page.waitForFunction(() => document.getElementById('name-error').textContent !== '',
		{ timeout: PATIENCE_MS });
	assert.equal(await page.$eval('#message', (m) => m.dataset.kind), 'error');
	assert.match(await text('#message'), /^Not saved/);
	assert.equal(await text('#card-name'), 'Alice in Chromium');
	assert.equal(await badge('synced'), 'Saved', 'the last saved change is still saved');
});

test('a change the database refuses says "Change failed" with the field', async () => {
	sql(`alter table public.profiles add constraint t_browser_bio
		check (bio is distinct from 'refused by the database') not valid`);
	try {
		await setField('#name-input', 'Alice in Chromium');
		await setField('#bio-input', 'refused by the database');
		await page.click('#save');
		assert.equal(await badge('pending'), 'Saved (syncing)');
		const f = sh(env.PC_FLUSH_CMD);
		assert.equal(f.code, 65, `dead-lettered: ${f.err}`);
		assert.equal(await badge('failed'), 'Change failed');
		assert.match(await text('#message'), /refused this change \(bio\)/);
	} finally {
		sql('alter table public.profiles drop constraint t_browser_bio');
	}
});

test('the database away: "retrying" while pending, "unavailable" on load, "Saved" once back', async () => {
	let down = false;
	try {
		assert.equal(sh(env.PC_ORIGIN_STOP_CMD).code, 0);
		down = true;
		await setField('#bio-input', 'written while the database is away');
		await page.click('#save');
		assert.equal(await badge('pending'), 'Saved (syncing)');
		await memcachedFlush();	// nothing cached: reads get 503
		assert.match(await badge('retrying'), /database unavailable, retrying/);

		await page.reload({ waitUntil: 'load' });
		assert.equal(await badge('unavailable'), 'Database unavailable, retrying');
		assert.match(await text('#message'), /retrying in \d+ s/);

		assert.equal(sh(env.PC_ORIGIN_START_CMD).code, 0);
		down = false;
		// Back: the journal's change is over the database's row.
		assert.equal(await badge('pending'), 'Saved (syncing)');
		assert.equal(await text('#card-bio'), 'written while the database is away');
		const f = sh(env.PC_FLUSH_CMD);
		assert.equal(f.code, 0, f.err);
		assert.equal(await badge('synced'), 'Saved');
	} finally {
		if (down)
			sh(env.PC_ORIGIN_START_CMD);
	}
});

test('no uncaught error in the page', () => {
	assert.deepEqual(pageErrors, []);
});
