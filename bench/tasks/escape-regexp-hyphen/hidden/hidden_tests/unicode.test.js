'use strict';
// Fail-to-pass: escaped text must be usable in Unicode-mode patterns.
const test = require('node:test');
const assert = require('node:assert');
const escapeRegExp = require('../index.js');

test('a hyphen survives the u flag', () => {
	const pattern = new RegExp(escapeRegExp('en-US'), 'u');
	assert.ok(pattern.test('en-US'));
	assert.ok(!pattern.test('enxUS'));
});

test('a hyphen stays literal inside a character class, with and without u', () => {
	for (const flags of ['', 'u']) {
		const cls = new RegExp('^[' + escapeRegExp('a-z') + ']$', flags);
		assert.ok(cls.test('-'));
		assert.ok(cls.test('a'));
		assert.ok(!cls.test('b'));
	}
});

test('every special character works in Unicode mode', () => {
	const text = 'price: $5 (approx.) [a-b] {1,2} ^x|y* +z? \\ end';
	assert.ok(new RegExp('^' + escapeRegExp(text) + '$', 'u').test(text));
});
