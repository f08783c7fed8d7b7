'use strict';

// Characters with a meaning in a pattern; each is prefixed with a backslash.
const SPECIAL = /[|\\{}()[\]^$+*?.]/g;

function escapeRegExp(string) {
	if (typeof string !== 'string') {
		throw new TypeError('Expected a string');
	}
	// `\-` is refused by Unicode-mode patterns; `\x2d` is a literal hyphen everywhere.
	return string.replace(SPECIAL, '\\$&').replace(/-/g, '\\x2d');
}

module.exports = escapeRegExp;
