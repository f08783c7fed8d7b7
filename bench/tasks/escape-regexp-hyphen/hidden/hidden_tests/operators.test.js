'use strict';
// Pass-to-pass: the other operators are escaped as before.
const test = require('node:test');
const assert = require('node:assert');
const escapeRegExp = require('../index.js');

test('escapes the usual operators', () => {
	assert.strictEqual(escapeRegExp('\\ ^ $ * + ? . ( ) | { } [ ]'),
		'\\\\ \\^ \\$ \\* \\+ \\? \\. \\( \\) \\| \\{ \\} \\[ \\]');
});

test('leaves ordinary text alone', () => {
	assert.strictEqual(escapeRegExp('hello world'), 'hello world');
});

test('refuses non-strings', () => {
	assert.throws(() => escapeRegExp(undefined), TypeError);
});
