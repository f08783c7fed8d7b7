'use strict';
// Pass-to-pass: quoting, comments and load behave as before.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { load, parse } = require('../lib/main.js');

test('quoting and comments', () => {
	assert.deepStrictEqual(parse("A=1\r\nB='single'\n  # note\nC=\"x\\ny\"\nnot a pair\n"), { A: '1', B: 'single', C: 'x\ny' });
});

test('load keeps variables already set', () => {
	const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dotenv-')), '.env');
	fs.writeFileSync(file, 'BENCH_DOTENV_NEW=1\nBENCH_DOTENV_SET=file\n');
	process.env.BENCH_DOTENV_SET = 'env';
	delete process.env.BENCH_DOTENV_NEW;
	load(file);
	assert.strictEqual(process.env.BENCH_DOTENV_NEW, '1');
	assert.strictEqual(process.env.BENCH_DOTENV_SET, 'env');
});
