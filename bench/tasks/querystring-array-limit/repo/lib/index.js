'use strict';

module.exports = { parse: require('./parse') };
