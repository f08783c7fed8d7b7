'use strict';
const test = require('node:test');
const assert = require('node:assert');
const escapeRegExp = require('../index.js');

test('escapes the dot', () => {
	assert.strictEqual(escapeRegExp('a.b'), 'a\\.b');
});

test('refuses non-strings', () => {
	assert.throws(() => escapeRegExp(1), TypeError);
});
