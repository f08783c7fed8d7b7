'use strict';
// The repository's own tests must pass with the change and fail on the original lib/main.js: the fix
// came with a test that catches the bug.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');

function runRepoTests(cwd) {
	// A nested runner that inherits NODE_TEST_CONTEXT reports to this one instead of exiting non-zero.
	const env = Object.assign({}, process.env);
	delete env.NODE_TEST_CONTEXT;
	// Every .js file under test/, named explicitly: Node 18-20 and 22 read a bare directory differently.
	const files = fs.readdirSync(path.join(cwd, 'test')).filter((name) => /\.[cm]?js$/.test(name))
		.map((name) => path.join('test', name));
	return spawnSync(process.execPath, ['--test', ...files], { cwd, env, encoding: 'utf8', timeout: 60000 });
}

test('the repository tests pass with the change', () => {
	const done = runRepoTests(root);
	assert.strictEqual(done.status, 0, (done.stdout || '').slice(-2000));
});

test('the repository tests fail on the original lib/main.js', () => {
	const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'dotenv-copy-'));
	fs.cpSync(root, copy, { recursive: true, filter: (source) => !source.includes('hidden_tests') });
	fs.copyFileSync(path.join(__dirname, 'original', 'main.js'), path.join(copy, 'lib', 'main.js'));
	const done = runRepoTests(copy);
	fs.rmSync(copy, { recursive: true, force: true });
	assert.notStrictEqual(done.status, 0, 'no test under test/ fails on the original lib/main.js');
});
