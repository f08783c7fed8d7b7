'use strict';
// Fail-to-pass: arrayLimit is the highest index in every notation.
const test = require('node:test');
const assert = require('node:assert');
const { parse } = require('../lib');

const four = (make) => [0, 1, 2, 3].map(make).join('&');

test('four [] values stay an array with arrayLimit 3', () => {
	assert.deepStrictEqual(parse(four(() => 'a[]=x'), { arrayLimit: 3 }), { a: ['x', 'x', 'x', 'x'] });
});

test('four repeated keys stay an array with arrayLimit 3', () => {
	assert.deepStrictEqual(parse(four((i) => 'a=' + i), { arrayLimit: 3 }), { a: ['0', '1', '2', '3'] });
});

test('five [] values become an object with arrayLimit 3', () => {
	assert.deepStrictEqual(parse(four(() => 'a[]=x') + '&a[]=y', { arrayLimit: 3 }),
		{ a: { 0: 'x', 1: 'x', 2: 'x', 3: 'x', 4: 'y' } });
});

test('throwOnLimitExceeded throws at index 4, not 3', () => {
	const options = { arrayLimit: 3, throwOnLimitExceeded: true };
	assert.deepStrictEqual(parse(four(() => 'a[]=x'), options), { a: ['x', 'x', 'x', 'x'] });
	assert.throws(() => parse(four(() => 'a[]=x') + '&a[]=y', options),
		(error) => error instanceof RangeError && /Only 4 elements allowed/.test(error.message));
});

test('arrayLimit 0 allows exactly one element', () => {
	assert.deepStrictEqual(parse('a[]=x', { arrayLimit: 0 }), { a: ['x'] });
	assert.deepStrictEqual(parse('a[]=x&a[]=y', { arrayLimit: 0 }), { a: { 0: 'x', 1: 'y' } });
	assert.throws(() => parse('a[]=x&a[]=y', { arrayLimit: 0, throwOnLimitExceeded: true }), /Only 1 element allowed/);
});
