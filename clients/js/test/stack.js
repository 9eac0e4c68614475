// The test stack from Node: shell commands, SQL through psql and emptying
// memcached. Shared by the client's tests and the browser tests; the
// environment is the one tests/e2e/lib.sh exports (PC_PSQL, DATABASE_URL,
// MEMCACHED_PORT).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';

const env = process.env;

// sh(cmd): run a shell command; its exit status and output.
export function sh(cmd) {
	const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8' });
	return { code: r.status, out: r.stdout, err: r.stderr };
}

// sql(query): run one statement with psql; its output, trimmed.
export function sql(query) {
	const r = spawnSync(env.PC_PSQL, ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1',
		'-d', env.DATABASE_URL, '-c', query], { encoding: 'utf8' });
	assert.equal(r.status, 0, `psql: ${r.stderr}`);
	return r.stdout.trim();
}

// memcachedFlush(): empty the stack's memcached (flush_all).
export function memcachedFlush() {
	return new Promise((resolve, reject) => {
		const s = net.connect(Number(env.MEMCACHED_PORT), '127.0.0.1');
		let got = '';
		s.on('connect', () => s.write('flush_all\r\n'));
		s.on('data', (d) => {
			got += d;
			if (got.includes('\r\n')) {
				s.end();
				got.startsWith('OK') ? resolve() : reject(new Error(got));
			}
		});
		s.on('error', reject);
	});
}
