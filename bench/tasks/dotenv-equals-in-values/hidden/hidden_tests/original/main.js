'use strict';

const fs = require('node:fs');

function unquote(value) {
	const first = value[0];
	if (value.length >= 2 && (first === '"' || first === "'") && value[value.length - 1] === first) {
		const inner = value.slice(1, -1);
		return first === '"' ? inner.replace(/\\n/g, '\n') : inner;
	}
	return value;
}

function parse(text) {
	const result = {};
	for (const rawLine of String(text).split(/\r?\n/)) {
		const line = rawLine.trim();
		if (!line || line.startsWith('#') || !line.includes('=')) continue;
		const pieces = line.split('=');
		const key = pieces[0].trim();
		const value = pieces[1].trim();
		if (key) result[key] = unquote(value);
	}
	return result;
}

function load(path) {
	const values = parse(fs.readFileSync(path, 'utf8'));
	for (const [key, value] of Object.entries(values)) {
		if (!(key in process.env)) process.env[key] = value;
	}
	return values;
}

module.exports = { load, parse };
