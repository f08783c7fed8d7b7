'use strict';
// Pass-to-pass: ordinary parsing is unchanged.
const test = require('node:test');
const assert = require('node:assert');
const parseArgs = require('../index.js');

test('flags, numbers, negation and repeats', () => {
	assert.deepStrictEqual(parseArgs(['--port', '8080', '--verbose', '--no-color', '-xy', 'a', '7']),
		{ _: ['a', 7], port: 8080, verbose: true, color: false, x: true, y: true });
	assert.deepStrictEqual(parseArgs(['--tag', 'a', '--tag', 'b']).tag, ['a', 'b']);
	assert.deepStrictEqual(parseArgs(['--name=x=y']).name, 'x=y');
});

test('dotted keys still nest', () => {
	assert.deepStrictEqual(parseArgs(['--a.b.c', '1', '--a.d=two']), { _: [], a: { b: { c: 1 }, d: 'two' } });
	assert.deepStrictEqual(parseArgs(['--proto.x', '1']), { _: [], proto: { x: 1 } });
});
