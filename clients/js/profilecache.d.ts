// Type declarations for profilecache.js.

export interface Profile {
	id: string;
	username: string | null;
	display_name: string | null;
	bio: string | null;
	avatar_url: string | null;
	gradient: string | null;
	is_private: boolean;
	created_at: string;
	updated_at: string;
}

/** The API's error object; 422 adds fields (field name -> reason). */
export interface ApiError {
	code: string;
	message: string;
	fields?: Record<string, string>;
}

export type Sync = 'synced' | 'pending' | 'failed';

/** What every request method resolves to. */
export interface Answer {
	/** HTTP status; 0 when no answer arrived (error.code "network_error"). */
	status: number;
	profile: Profile | null;
	sync: Sync | null;
	/** Fields the database refused (sync "failed"). */
	failed: string[] | null;
	etag: string | null;
	/** HIT, MISS or STALE on a read. */
	xCache: string | null;
	/** Seconds, from Retry-After (429, 503). */
	retryAfter: number | null;
	/** A 304: profile and sync are the ones this client held. */
	notModified: boolean;
	error: ApiError | null;
}

export const SyncState: {
	readonly PENDING: 'pending';
	readonly SYNCED: 'synced';
	readonly FAILED: 'failed';
	readonly UNKNOWN: 'unknown';
};
export type SyncStateName = 'pending' | 'synced' | 'failed' | 'unknown';

export interface SyncEvent {
	id: string;
	state: SyncStateName;
	profile: Profile | null;
	failed: string[] | null;
	/** While pending: the last revalidation's error (an event is sent each
	 * time its code changes), null once reads answer again. */
	error: ApiError | null;
}

export interface SyncInfo {
	state: SyncStateName;
	failed: string[] | null;
	error: ApiError | null;
	attempts: number;
}

export interface SyncOptions {
	/** First revalidation after a pending write (default 500 ms). */
	initialDelayMs?: number;
	/** The delay doubles up to this (default 30000 ms). */
	maxDelayMs?: number;
	/** Each delay is shortened by up to this fraction (default 0.2). */
	jitter?: number;
	/** Revalidations before the state becomes "unknown" (default 40). */
	maxAttempts?: number;
}

export interface ClientOptions {
	/** The API root including /v1, e.g. "https://api.example.com/v1" or "/v1". */
	baseUrl: string;
	token?: string;
	getToken?: () => string | null | undefined | Promise<string | null | undefined>;
	/** The admin's secret key: server-side code only. */
	apikey?: string;
	fetch?: typeof fetch;
	sync?: SyncOptions;
}

export interface RequestOptions {
	signal?: AbortSignal;
}

export interface WriteOptions extends RequestOptions {
	/** An ETag, or true for the last one this client saw for the profile. */
	ifMatch?: string | true;
}

export type ProfilePatch = Partial<Pick<Profile,
	'username' | 'display_name' | 'bio' | 'avatar_url' | 'gradient' | 'is_private'>>;

export class ProfileCacheClient extends EventTarget {
	constructor(options: ClientOptions);
	readonly baseUrl: string;
	on(type: 'sync', fn: (event: SyncEvent) => void): () => void;
	getProfile(id: string, options?: RequestOptions): Promise<Answer>;
	cachedProfile(id: string): Profile | null;
	updateProfile(id: string, patch: ProfilePatch, options?: WriteOptions): Promise<Answer>;
	replaceProfile(id: string, profile: ProfilePatch, options?: WriteOptions): Promise<Answer>;
	uploadAvatar(id: string, data: Blob | ArrayBuffer | ArrayBufferView, type?: string,
		options?: RequestOptions): Promise<Answer>;
	syncState(id: string): SyncStateName | null;
	syncInfo(id: string): SyncInfo | null;
	watch(id: string): void;
	close(): void;
}

export function createClient(options: ClientOptions): ProfileCacheClient;
export default createClient;
