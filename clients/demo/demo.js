// The demo page: one profile's card and an edit form, through
// profilecache.js. demo-config.json, written by the local stack when it
// starts (scripts/lib.sh), names the API, the profile and a token for it.
import { createClient } from './profilecache.js';

const $ = (id) => document.getElementById(id);
const badge = $('badge');
const message = $('message');

// The badge says where the profile's last change is.
const BADGE = {
	loading: 'Loading…',
	synced: 'Saved',
	pending: 'Saved (syncing)',
	retrying: 'Saved (syncing; database unavailable, retrying)',
	unavailable: 'Database unavailable, retrying',
	failed: 'Change failed',
	unknown: 'Saved (sync not confirmed)',
	error: 'Error',
};

function setBadge(state, title = '') {
	badge.dataset.state = state;
	badge.textContent = BADGE[state];
	badge.title = title;
}

function say(text, kind = 'info') {
	message.textContent = text;
	message.dataset.kind = kind;
}

function initials(p) {
	const s = (p.display_name || p.username || '?').trim();
	return s.split(/\s+/).slice(0, 2).map((w) => w[0]).join('').toUpperCase();
}

// A gradient is "#rgb,#rrggbb,..." (checked by the server); anything else
// is not put into CSS.
function gradientCss(g) {
	const parts = (g || '').split(',');
	if (parts.length < 2 || !parts.every((c) => /^#[0-9a-fA-F]{3,8}$/.test(c)))
		return '';
	return `linear-gradient(120deg, ${parts.join(', ')})`;
}

function showProfile(p, { fillForm = false } = {}) {
	if (!p)
		return;
	$('card-name').textContent = p.display_name || p.username || '';
	$('card-username').textContent = p.username ? '@' + p.username : '';
	$('card-bio').textContent = p.bio || '';
	$('card-initials').textContent = initials(p);
	$('card-banner').style.background = gradientCss(p.gradient);
	const img = $('card-avatar');
	if (p.avatar_url) {
		if (img.getAttribute('src') !== p.avatar_url) {
			$('card').classList.remove('no-avatar');
			img.src = p.avatar_url;
		}
	} else {
		img.removeAttribute('src');
		$('card').classList.add('no-avatar');
	}
	if (fillForm) {
		$('name-input').value = p.display_name || '';
		$('bio-input').value = p.bio || '';
	}
}

function showSync(state, ev = {}) {
	if (state === 'pending' && ev.error) {
		const why = ev.error.code === 'network_error' ? 'the server does not answer'
			: ev.error.message || ev.error.code;
		setBadge('retrying', why);
	} else if (state === 'failed') {
		const fields = (ev.failed || []).join(', ');
		setBadge('failed', fields);
		say(`The database refused this change${fields ? ' (' + fields + ')' : ''}; the card shows what it kept.`, 'error');
	} else if (BADGE[state]) {
		setBadge(state);
	}
}

function showMeta(a) {
	const parts = [`last answer ${a.status}`];
	if (a.xCache)
		parts.push(`X-Cache ${a.xCache}`);
	if (a.etag)
		parts.push(`ETag ${a.etag}`);
	$('meta').textContent = parts.join(' · ');
}

// A write's refusal: the API's message, and each field's next to its input.
function showWriteError(a) {
	$('name-error').textContent = '';
	$('bio-error').textContent = '';
	if (a.status === 0) {
		say('Not saved: the server does not answer.', 'error');
		return;
	}
	const e = a.error || { message: 'HTTP ' + a.status };
	if (e.fields) {
		$('name-error').textContent = e.fields.display_name || '';
		$('bio-error').textContent = e.fields.bio || '';
	}
	let text = `Not saved: ${e.message}`;
	if (a.retryAfter != null)
		text += ` (try again in ${a.retryAfter} s)`;
	if (a.status === 401)
		text += ' (the demo token may have expired: restart the stack)';
	say(text, 'error');
}

async function main() {
	let cfg;
	try {
		const r = await fetch('demo-config.json', { cache: 'no-store' });
		if (!r.ok)
			throw new Error('HTTP ' + r.status);
		cfg = await r.json();
	} catch (e) {
		setBadge('error');
		say(`No demo-config.json (${e.message}): the page is served by a stack that scripts/run started.`, 'error');
		return;
	}
	const pc = createClient({
		baseUrl: cfg.baseUrl,
		token: cfg.token,
		sync: { initialDelayMs: 500, maxDelayMs: 5000, maxAttempts: 1000 },
	});
	window.profilecacheDemo = { client: pc, config: cfg };
	const id = cfg.profileId;

	pc.on('sync', (ev) => {
		if (ev.id !== id)
			return;
		showProfile(ev.profile);
		showSync(ev.state, ev);
		if (ev.state === 'synced')
			say('Saved: the database has the change.');
	});

	// The first read; while the database is away and nothing is cached,
	// retried as Retry-After says.
	for (let wait = 1; ; wait = Math.min(wait * 2, 30)) {
		const a = await pc.getProfile(id);
		showMeta(a);
		if (a.status === 200 || a.status === 304) {
			showProfile(a.profile, { fillForm: true });
			showSync(a.sync, a);
			if (a.sync === 'pending')
				pc.watch(id);	// written before this page opened
			break;
		}
		if (a.status === 0 || a.status === 503 || a.status === 429) {
			const s = a.retryAfter ?? wait;
			setBadge('unavailable');
			say(`${a.status === 0 ? 'The server does not answer' : a.error.message}; retrying in ${s} s.`, 'error');
			await new Promise((r) => setTimeout(r, s * 1000));
			continue;
		}
		setBadge('error');
		say(`Cannot show the profile: ${a.error ? a.error.message : 'HTTP ' + a.status}`, 'error');
		return;
	}

	$('edit').addEventListener('submit', async (ev) => {
		ev.preventDefault();
		// Only what changed: a refused value then names only its field.
		const held = pc.cachedProfile(id) || {};
		const patch = {};
		for (const [field, input] of [['display_name', 'name-input'], ['bio', 'bio-input']]) {
			if ($(input).value !== (held[field] ?? ''))
				patch[field] = $(input).value;
		}
		if (Object.keys(patch).length === 0) {
			say('Nothing changed.');
			return;
		}
		const save = $('save');
		save.disabled = true;
		say('Saving…');
		try {
			const a = await pc.updateProfile(id, patch);
			showMeta(a);
			if (a.status === 200 || a.status === 202) {
				$('name-error').textContent = '';
				$('bio-error').textContent = '';
				showProfile(a.profile);
				showSync(a.sync);
				say(a.sync === 'pending'
					? 'Saved in the journal; the flusher will bring it to the database.'
					: 'Saved.');
			} else {
				showWriteError(a);
			}
		} finally {
			save.disabled = false;
		}
	});

	$('avatar-file').addEventListener('change', async (ev) => {
		const file = ev.target.files && ev.target.files[0];
		if (!file)
			return;
		say('Uploading…');
		const a = await pc.uploadAvatar(id, file, file.type || 'application/octet-stream');
		showMeta(a);
		ev.target.value = '';
		if (a.status === 200 || a.status === 202) {
			// The new image is served at once; its URL reaches the
			// database with the flusher, like any other change.
			showProfile(a.profile);
			showSync(a.sync);
			say('Avatar uploaded.');
		} else {
			showWriteError(a);
		}
	});

	$('card-avatar').addEventListener('error', () => $('card').classList.add('no-avatar'));
}

main();
