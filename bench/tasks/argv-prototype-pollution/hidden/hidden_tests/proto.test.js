'use strict';
// Fail-to-pass: no argument can reach a shared prototype.
const test = require('node:test');
const assert = require('node:assert');
const parseArgs = require('../index.js');

test('__proto__ paths do not pollute Object.prototype', () => {
	const argv = parseArgs(['--__proto__.benchPolluted', 'yes']);
	assert.strictEqual({}.benchPolluted, undefined);
	assert.strictEqual(argv.benchPolluted, undefined);
	parseArgs(['--__proto__=x']);
	assert.strictEqual(Object.getPrototypeOf({}), Object.prototype);
});

test('constructor.prototype paths do not pollute Object.prototype', () => {
	const argv = parseArgs(['--constructor.prototype.benchRole', 'root']);
	assert.strictEqual({}.benchRole, undefined);
	assert.strictEqual(argv.benchRole, undefined);
});

test('the positional array cannot reach Array.prototype', () => {
	parseArgs(['--_.__proto__.benchArr', 'x', '--_.constructor.prototype.benchArr2', 'y']);
	assert.strictEqual([].benchArr, undefined);
	assert.strictEqual([].benchArr2, undefined);
});
