// profilecache client: reads with ETag revalidation, writes, avatar uploads,
// and the sync state of written profiles (pending until the flusher applied
// the change). One dependency-free ES module for browsers and Node 18+.
//
// Every request method resolves to the server's answer (never rejects on an
// HTTP error): { status, profile, sync, failed, etag, xCache, error,
// retryAfter, notModified }. status 0 with error.code "network_error" means no
// answer arrived. Only an aborted request (options.signal) rejects.

const DEFAULT_SYNC = Object.freeze({
	initialDelayMs: 500,	// first revalidation after a pending write
	maxDelayMs: 30000,	// the delay doubles up to this
	jitter: 0.2,		// each delay is shortened by up to this fraction
	maxAttempts: 40,	// revalidations before tracking stops ("unknown")
});

// Sync states a tracked profile can be in (syncState, "sync" events).
export const SyncState = Object.freeze({
	PENDING: 'pending',	// acknowledged, not yet known to be in the database
	SYNCED: 'synced',	// a read said the database has it
	FAILED: 'failed',	// the database refused it (failed lists the fields)
	UNKNOWN: 'unknown',	// tracking stopped without an answer (see watch())
});

function isBinary(x) {
	return x instanceof ArrayBuffer || ArrayBuffer.isView(x);
}

// The API's error object, or one of this client's for answers without one.
function errorOf(status, body) {
	if (body && typeof body === 'object' && body.error && typeof body.error === 'object')
		return body.error;
	if (status === 0)
		return null;
	return { code: 'http_' + status, message: 'HTTP ' + status };
}

// Retry-After in seconds (delta-seconds or an HTTP date), or null.
function retryAfterOf(headers) {
	const v = headers.get('retry-after');
	if (v == null)
		return null;
	if (/^\s*\d+\s*$/.test(v))
		return Number(v);
	const t = Date.parse(v);
	return Number.isNaN(t) ? null : Math.max(0, Math.ceil((t - Date.now()) / 1000));
}

export class ProfileCacheClient extends EventTarget {
	// options: { baseUrl, token | getToken(), apikey?, fetch?, sync? }
	//   baseUrl   the API root including /v1 ("https://host/v1", or "/v1" in a
	//             page served by the same origin)
	//   token     a user's access token (Supabase JWT), or getToken(): a
	//             function returning one or a promise of one (called per request)
	//   apikey    the admin's secret key: server-side code only, never a page
	//   fetch     a fetch implementation (default: globalThis.fetch)
	//   sync      { initialDelayMs, maxDelayMs, jitter, maxAttempts } of the
	//             revalidation after a pending write
	constructor(options = {}) {
		super();
		if (typeof options.baseUrl !== 'string' || options.baseUrl === '')
			throw new TypeError('profilecache: options.baseUrl is required');
		this.baseUrl = options.baseUrl.replace(/\/+$/, '');
		this._token = options.token;
		this._getToken = options.getToken;
		this._apikey = options.apikey;
		this._fetch = options.fetch || globalThis.fetch.bind(globalThis);
		this._sync = { ...DEFAULT_SYNC, ...(options.sync || {}) };
		this._cache = new Map();	// id -> { etag, body }
		this._tracked = new Map();	// id -> { state, failed, error, attempts, timer }
	}

	// --- events -------------------------------------------------------------

	// on(type, fn): call fn(detail) for each event of type ("sync"); returns
	// a function that unsubscribes. The same events are dispatched as Event
	// objects with a detail property to addEventListener listeners.
	on(type, fn) {
		const h = (ev) => fn(ev.detail);
		this.addEventListener(type, h);
		return () => this.removeEventListener(type, h);
	}

	_emit(type, detail) {
		// CustomEvent is not global before Node 19.
		const ev = new Event(type);
		ev.detail = detail;
		this.dispatchEvent(ev);
	}

	// --- requests -------------------------------------------------------------

	async _headers(extra) {
		const h = { ...extra };
		let token = this._token;
		if (typeof this._getToken === 'function')
			token = await this._getToken();
		if (token)
			h.Authorization = 'Bearer ' + token;
		if (this._apikey)
			h.apikey = this._apikey;
		return h;
	}

	_url(id, suffix = '') {
		return this.baseUrl + '/profiles/' + encodeURIComponent(id) + suffix;
	}

	// _request(method, url, { headers, body, signal }): the answer, parsed.
	async _request(method, url, { headers = {}, body, signal } = {}) {
		let res;
		try {
			res = await this._fetch(url, {
				method,
				headers: await this._headers(headers),
				body,
				signal,
				// Revalidation is this client's: no HTTP cache in between.
				cache: 'no-store',
				credentials: 'omit',
			});
		} catch (e) {
			if (e && (e.name === 'AbortError' || e.name === 'TimeoutError'))
				throw e;
			return {
				status: 0, profile: null, sync: null, failed: null, etag: null,
				xCache: null, retryAfter: null, notModified: false,
				error: { code: 'network_error', message: String((e && e.message) || e) },
			};
		}
		let doc = null;
		if (res.status !== 204 && res.status !== 304) {
			const text = await res.text();
			if (text !== '') {
				try {
					doc = JSON.parse(text);
				} catch {
					doc = null;
				}
			}
		}
		const ok = res.status >= 200 && res.status < 300;
		return {
			status: res.status,
			profile: ok && doc ? doc.profile ?? null : null,
			sync: ok && doc ? doc.sync ?? null : null,
			failed: ok && doc ? doc.failed ?? null : null,
			etag: res.headers.get('etag'),
			xCache: res.headers.get('x-cache'),
			retryAfter: retryAfterOf(res.headers),
			notModified: res.status === 304,
			error: ok || res.status === 304 ? null : errorOf(res.status, doc),
			_doc: doc,
		};
	}

	static _public(a) {
		const { _doc, ...rest } = a;
		return rest;
	}

	// getProfile(id, { signal }): GET with If-None-Match when this client
	// holds an ETag for id; a 304 answers with the held profile.
	async getProfile(id, { signal } = {}) {
		const held = this._cache.get(id);
		const headers = {};
		if (held)
			headers['If-None-Match'] = held.etag;
		const a = await this._request('GET', this._url(id), { headers, signal });
		if (a.status === 304 && held) {
			a.profile = held.body.profile ?? null;
			a.sync = held.body.sync ?? null;
			a.failed = held.body.failed ?? null;
			a.etag = a.etag || held.etag;
		} else if (a.status === 200 && a._doc && a.etag) {
			this._cache.set(id, { etag: a.etag, body: a._doc });
		} else if (a.status === 404) {
			this._cache.delete(id);
		}
		return ProfileCacheClient._public(a);
	}

	// cachedProfile(id): the last profile this client read or wrote, or null.
	cachedProfile(id) {
		const held = this._cache.get(id);
		return held ? held.body.profile ?? null : null;
	}

	// _write: a profile write's answer; starts tracking a pending one.
	async _write(method, id, url, { headers, body, signal, ifMatch }) {
		if (ifMatch === true) {
			const held = this._cache.get(id);
			if (held)
				headers['If-Match'] = held.etag;
		} else if (typeof ifMatch === 'string') {
			headers['If-Match'] = ifMatch;
		}
		const a = await this._request(method, url, { headers, body, signal });
		if ((a.status === 200 || a.status === 202) && a._doc) {
			// The answer is the cached entity with its ETag: keep it, so
			// the next revalidation is a 304 until something changes.
			if (a.etag && a.profile)
				this._cache.set(id, { etag: a.etag, body: a._doc });
			else
				this._cache.delete(id);
			if (a.sync === 'pending')
				this._track(id, a.profile);
			else if (a.sync === 'synced')
				this._settle(id, SyncState.SYNCED, a);
		}
		return ProfileCacheClient._public(a);
	}

	// updateProfile(id, patch, { ifMatch, signal }): PATCH (merge). ifMatch:
	// an ETag, or true for the last one this client saw for id.
	updateProfile(id, patch, { ifMatch, signal } = {}) {
		return this._write('PATCH', id, this._url(id), {
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify(patch), signal, ifMatch,
		});
	}

	// replaceProfile(id, profile, { ifMatch, signal }): PUT (fields not given
	// are reset).
	replaceProfile(id, profile, { ifMatch, signal } = {}) {
		return this._write('PUT', id, this._url(id), {
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify(profile), signal, ifMatch,
		});
	}

	// uploadAvatar(id, data, type, { signal }): POST the image as a raw body.
	// data: a Blob or File (type defaults to its type), an ArrayBuffer or a
	// typed array (a Node Buffer). The answer's profile.avatar_url is the new
	// image, served at once.
	uploadAvatar(id, data, type, { signal } = {}) {
		const ct = type || (data && typeof data.type === 'string' && data.type) || '';
		if (!ct)
			throw new TypeError('profilecache: uploadAvatar needs the image type');
		if (!isBinary(data) && !(typeof Blob !== 'undefined' && data instanceof Blob))
			throw new TypeError('profilecache: uploadAvatar takes a Blob, an ArrayBuffer or a typed array');
		return this._write('POST', id, this._url(id, '/avatar'), {
			headers: { 'Content-Type': ct }, body: data, signal,
		});
	}

	// --- sync state -------------------------------------------------------------
	//
	// XXX A write route that answers with an Idempotency-Key (token
	// increments, planned) would go through _write like the others, and its
	// "pending" answer be tracked the same way.

	// syncState(id): "pending", "synced", "failed", "unknown", or null for a
	// profile this client has not written.
	syncState(id) {
		const t = this._tracked.get(id);
		return t ? t.state : null;
	}

	// syncInfo(id): { state, failed, error, attempts } or null.
	syncInfo(id) {
		const t = this._tracked.get(id);
		return t ? { state: t.state, failed: t.failed, error: t.error, attempts: t.attempts } : null;
	}

	// watch(id): revalidate id until a read says synced or failed (again,
	// e.g. after tracking stopped as "unknown").
	watch(id) {
		this._track(id, this.cachedProfile(id));
	}

	// close(): stop every timer (tracked states are kept).
	close() {
		for (const t of this._tracked.values()) {
			clearTimeout(t.timer);
			t.timer = null;
		}
	}

	_track(id, profile) {
		let t = this._tracked.get(id);
		if (!t) {
			t = { state: null, failed: null, error: null, attempts: 0, timer: null };
			this._tracked.set(id, t);
		}
		clearTimeout(t.timer);
		t.attempts = 0;
		t.failed = null;
		t.error = null;
		const was = t.state;
		t.state = SyncState.PENDING;
		if (was !== SyncState.PENDING)
			this._emit('sync', { id, state: t.state, profile, failed: null, error: null });
		this._schedule(id, t, null);
	}

	// _delay(attempt, retryAfter): the wait before revalidation number
	// attempt (0-based): doubling from initialDelayMs to maxDelayMs, shortened
	// by a random part (jitter), and never shorter than Retry-After.
	_delay(attempt, retryAfter) {
		const s = this._sync;
		const d = Math.min(s.maxDelayMs, s.initialDelayMs * 2 ** attempt);
		const j = d * (1 - s.jitter * Math.random());
		return retryAfter != null ? Math.max(j, retryAfter * 1000) : j;
	}

	_schedule(id, t, retryAfter) {
		if (t.attempts >= this._sync.maxAttempts) {
			t.state = SyncState.UNKNOWN;
			t.timer = null;
			this._emit('sync', {
				id, state: t.state, profile: this.cachedProfile(id), failed: null,
				error: t.error,
			});
			return;
		}
		t.timer = setTimeout(() => this._revalidate(id, t), this._delay(t.attempts, retryAfter));
		// A Node process need not stay alive for this alone.
		if (t.timer && typeof t.timer.unref === 'function')
			t.timer.unref();
	}

	async _revalidate(id, t) {
		if (this._tracked.get(id) !== t || t.state !== SyncState.PENDING)
			return;
		t.timer = null;
		t.attempts++;
		let a;
		try {
			a = await this.getProfile(id);
		} catch (e) {
			a = { status: 0, error: { code: 'network_error', message: String(e) } };
		}
		if (t.state !== SyncState.PENDING || t.timer !== null)
			return;	// written again meanwhile: that write rescheduled
		if ((a.status === 200 || a.status === 304) && a.sync === 'synced') {
			this._settle(id, SyncState.SYNCED, a);
		} else if ((a.status === 200 || a.status === 304) && a.sync === 'failed') {
			this._settle(id, SyncState.FAILED, a);
		} else {
			// Still pending, or no answer (network error, 503, 429, 5xx,
			// a refused read): never taken for synced; try again later.
			// Subscribers hear when reads start or stop failing.
			const was = t.error ? t.error.code : null;
			t.error = a.status === 200 || a.status === 304 ? null : a.error;
			if ((t.error ? t.error.code : null) !== was) {
				this._emit('sync', {
					id, state: t.state, profile: this.cachedProfile(id), failed: null,
					error: t.error,
				});
			}
			this._schedule(id, t, a.retryAfter ?? null);
		}
	}

	_settle(id, state, a) {
		let t = this._tracked.get(id);
		if (!t) {
			t = { state: null, failed: null, error: null, attempts: 0, timer: null };
			this._tracked.set(id, t);
		}
		clearTimeout(t.timer);
		t.timer = null;
		t.state = state;
		t.failed = state === SyncState.FAILED ? a.failed || [] : null;
		t.error = null;
		this._emit('sync', { id, state, profile: a.profile, failed: t.failed, error: null });
	}
}

// createClient(options): a ProfileCacheClient (see its constructor).
export function createClient(options) {
	return new ProfileCacheClient(options);
}

export default createClient;
