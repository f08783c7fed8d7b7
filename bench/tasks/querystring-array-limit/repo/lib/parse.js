'use strict';

const utils = require('./utils');

const defaults = { arrayLimit: 20, delimiter: '&', throwOnLimitExceeded: false };

function currentLength(value) {
	if (Array.isArray(value)) return value.length;
	if (value === undefined) return 0;
	if (utils.isOverflowed(value)) return Object.keys(value).length;
	return 1;
}

function checkLimit(existing, options) {
	const length = currentLength(existing);
	if (options.throwOnLimitExceeded && length >= options.arrayLimit) {
		throw new RangeError('Array limit exceeded. Only ' + options.arrayLimit + ' element'
			+ (options.arrayLimit === 1 ? '' : 's') + ' allowed in an array.');
	}
}

function parse(input, opts) {
	const options = Object.assign({}, defaults, opts);
	const result = Object.create(null);
	if (typeof input !== 'string' || input === '') return {};
	for (const part of input.split(options.delimiter)) {
		if (!part) continue;
		const eq = part.indexOf('=');
		const key = utils.decode(eq === -1 ? part : part.slice(0, eq));
		const value = eq === -1 ? '' : utils.decode(part.slice(eq + 1));
		const match = /^([^[\]]+)\[([^[\]]*)\]$/.exec(key);
		const name = match ? match[1] : key;
		const existing = result[name];
		if (!match || match[2] === '') {
			// `a=x` repeated, or `a[]=x`: append.
			if (existing === undefined && !match) {
				result[name] = value;
				continue;
			}
			checkLimit(existing, options);
			result[name] = existing === undefined ? utils.combine([], value, options.arrayLimit)
				: utils.combine(existing, value, options.arrayLimit);
		} else if (/^\d+$/.test(match[2]) && Number(match[2]) <= options.arrayLimit
			&& (existing === undefined || Array.isArray(existing))) {
			const array = existing === undefined ? [] : existing;
			array[Number(match[2])] = value;
			result[name] = array;
		} else {
			if (/^\d+$/.test(match[2]) && options.throwOnLimitExceeded) {
				throw new RangeError('Array limit exceeded. Only ' + options.arrayLimit + ' element'
					+ (options.arrayLimit === 1 ? '' : 's') + ' allowed in an array.');
			}
			let object = existing;
			if (Array.isArray(object)) object = utils.arrayToObject(object);
			else if (object === undefined || typeof object !== 'object') object = {};
			object[match[2]] = value;
			result[name] = object;
		}
	}
	return Object.assign({}, result);
}

module.exports = parse;
