'use strict';

// Characters with a meaning in a pattern; each is prefixed with a backslash.
const SPECIAL = /[|\\{}()[\]^$+*?.-]/g;

function escapeRegExp(string) {
	if (typeof string !== 'string') {
		throw new TypeError('Expected a string');
	}
	return string.replace(SPECIAL, '\\$&');
}

module.exports = escapeRegExp;
