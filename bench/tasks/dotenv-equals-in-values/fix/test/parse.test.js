'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { parse } = require('../lib/main.js');

test('plain and quoted values', () => {
	assert.deepStrictEqual(parse('A=1\nB = "two words"\n# comment\n'), { A: '1', B: 'two words' });
});

test('double quotes expand \\n', () => {
	assert.deepStrictEqual(parse('C="a\\nb"'), { C: 'a\nb' });
});

test('values keep every = after the first', () => {
	assert.deepStrictEqual(parse('KEY=abc==\nURL=https://x.example/?a=1&b=2'),
		{ KEY: 'abc==', URL: 'https://x.example/?a=1&b=2' });
});
