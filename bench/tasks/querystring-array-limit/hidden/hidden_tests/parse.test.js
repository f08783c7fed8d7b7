'use strict';
// Pass-to-pass: the rest of the parser is unchanged.
const test = require('node:test');
const assert = require('node:assert');
const { parse } = require('../lib');

test('indexed arrays up to the limit', () => {
	assert.deepStrictEqual(parse('a[0]=x&a[1]=y&a[3]=z', { arrayLimit: 3 }).a.length, 4);
	assert.deepStrictEqual(parse('a[4]=x', { arrayLimit: 3 }), { a: { 4: 'x' } });
	assert.deepStrictEqual(parse('a[20]=x').a.length, 21);
	assert.deepStrictEqual(parse('a[21]=x'), { a: { 21: 'x' } });
});

test('objects, decoding and single values', () => {
	assert.deepStrictEqual(parse('c[x]=1&c[y]=a%20b&d=e+f&flag'), { c: { x: '1', y: 'a b' }, d: 'e f', flag: '' });
	assert.deepStrictEqual(parse(''), {});
	assert.deepStrictEqual(parse('a=1&b[]=2&b[]=3'), { a: '1', b: ['2', '3'] });
});

test('an overflowed array keeps taking values at the next index', () => {
	assert.deepStrictEqual(parse('a[]=1&a[]=2&a[]=3&a[]=4', { arrayLimit: 1 }), { a: { 0: '1', 1: '2', 2: '3', 3: '4' } });
});
