'use strict';
// Writes the expected token ids of every corpus entry, computed by the official tiktoken (WASM)
// package, for o200k_base and cl100k_base, both as encode_ordinary (special tokens as text) and
// as encode(text, "all") (special tokens recognized).
//
//   node reference.js <out.json>
//
// Output: { tiktoken, encodings, entries: [{ name, text | units, ids: { enc: { ordinary, special } } }] }

const fs = require('node:fs');
const path = require('node:path');
const { get_encoding } = require('tiktoken');
const { version } = JSON.parse(fs.readFileSync(path.join(path.dirname(require.resolve('tiktoken')), 'package.json'), 'utf8'));
const { corpus } = require('./corpus');

const ENCODINGS = ['o200k_base', 'cl100k_base'];

function main() {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node reference.js <out.json>');
    process.exit(2);
  }

  const encoders = Object.fromEntries(ENCODINGS.map((name) => [name, get_encoding(name)]));
  const entries = corpus().map((entry) => {
    const ids = {};
    for (const name of ENCODINGS) {
      const enc = encoders[name];
      ids[name] = {
        ordinary: Array.from(enc.encode_ordinary(entry.text)),
        special: Array.from(enc.encode(entry.text, 'all')),
      };
    }
    const carried = entry.units ? { units: entry.units } : { text: entry.text };
    return { name: entry.name, ...carried, ids };
  });
  for (const enc of Object.values(encoders)) enc.free();

  fs.writeFileSync(out, JSON.stringify({ tiktoken: version, encodings: ENCODINGS, entries }));
  console.log(`wrote ${entries.length} entries (tiktoken ${version}) to ${out}`);
}

main();
