'use strict';

// Objects made from an array that went past arrayLimit: later values are appended at the next index.
const overflowed = new WeakSet();

function arrayToObject(array) {
	const object = {};
	array.forEach((value, index) => {
		if (value !== undefined) object[index] = value;
	});
	overflowed.add(object);
	return object;
}

function isOverflowed(value) {
	return overflowed.has(value);
}

function nextIndex(object) {
	const indices = Object.keys(object).map(Number).filter(Number.isInteger);
	return indices.length ? Math.max(...indices) + 1 : 0;
}

// Append `b` to `a` (a value, an array or an overflowed object), honouring arrayLimit.
function combine(a, b, arrayLimit) {
	if (isOverflowed(a)) {
		a[nextIndex(a)] = b;
		return a;
	}
	const result = [].concat(a, b);
	// arrayLimit is the highest allowed index, not a length.
	if (result.length - 1 > arrayLimit) {
		return arrayToObject(result);
	}
	return result;
}

function decode(text) {
	try {
		return decodeURIComponent(text.replace(/\+/g, ' '));
	} catch {
		return text;
	}
}

module.exports = { arrayToObject, combine, decode, isOverflowed };
