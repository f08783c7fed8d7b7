'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { parse } = require('../lib');

test('plain keys and arrays', () => {
	assert.deepStrictEqual(parse('a=1&b[]=2&b[]=3&c[x]=4'), { a: '1', b: ['2', '3'], c: { x: '4' } });
});

test('an index above the default limit makes an object', () => {
	assert.deepStrictEqual(parse('a[21]=x'), { a: { 21: 'x' } });
});
