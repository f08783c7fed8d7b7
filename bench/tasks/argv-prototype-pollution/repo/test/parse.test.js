'use strict';
const test = require('node:test');
const assert = require('node:assert');
const parseArgs = require('../index.js');

test('long options and positionals', () => {
	assert.deepStrictEqual(parseArgs(['--name', 'x', 'file']), { _: ['file'], name: 'x' });
});

test('dotted keys nest', () => {
	assert.deepStrictEqual(parseArgs(['--a.b', '1']), { _: [], a: { b: 1 } });
});
