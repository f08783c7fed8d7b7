'use strict';
// Fail-to-pass: only the first '=' separates key and value.
const test = require('node:test');
const assert = require('node:assert');
const { parse } = require('../lib/main.js');

test('values keep their equals signs', () => {
	assert.deepStrictEqual(parse('API_KEY=abc==\nURL=https://x.example/?a=1&b=2\nEQ = "x=y"\nEMPTY=\n'),
		{ API_KEY: 'abc==', URL: 'https://x.example/?a=1&b=2', EQ: 'x=y', EMPTY: '' });
});
