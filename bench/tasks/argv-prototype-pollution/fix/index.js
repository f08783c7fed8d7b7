'use strict';

function isNumber(x) {
	if (typeof x === 'number') return true;
	if (/^0x[0-9a-f]+$/i.test(x)) return true;
	return /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(e[-+]?\d+)?$/.test(x);
}

// A key that leads out of the parsed object into something the whole process shares: `__proto__`,
// or `constructor` where it names a function (whose `prototype` every instance inherits from).
function isEscape(o, key) {
	return key === '__proto__' || (key === 'constructor' && typeof o[key] === 'function');
}

function setKey(obj, keys, value) {
	let o = obj;
	for (let i = 0; i < keys.length - 1; i++) {
		const key = keys[i];
		if (isEscape(o, key)) return;
		if (o[key] === undefined) o[key] = {};
		o = o[key];
	}
	const last = keys[keys.length - 1];
	if (isEscape(o, last)) return;
	if (o[last] === undefined || typeof o[last] === 'boolean') {
		o[last] = value;
	} else if (Array.isArray(o[last])) {
		o[last].push(value);
	} else {
		o[last] = [o[last], value];
	}
}

function parseArgs(args) {
	const argv = { _: [] };
	const set = (name, raw) => {
		const value = typeof raw === 'string' && isNumber(raw) ? Number(raw) : raw;
		setKey(argv, name.split('.'), value);
	};
	for (let i = 0; i < args.length; i++) {
		const arg = args[i];
		let match;
		if ((match = /^--([^=]+)=([\s\S]*)$/.exec(arg))) {
			set(match[1], match[2]);
		} else if ((match = /^--no-(.+)$/.exec(arg))) {
			set(match[1], false);
		} else if ((match = /^--(.+)$/.exec(arg))) {
			const next = args[i + 1];
			if (next !== undefined && !next.startsWith('-')) {
				set(match[1], next);
				i++;
			} else {
				set(match[1], true);
			}
		} else if (/^-[^-]+$/.test(arg)) {
			for (const letter of arg.slice(1)) set(letter, true);
		} else {
			argv._.push(isNumber(arg) ? Number(arg) : arg);
		}
	}
	return argv;
}

module.exports = parseArgs;
