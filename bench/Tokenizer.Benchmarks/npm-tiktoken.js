'use strict';
// Throughput of the official tiktoken npm package (WASM) on the same texts as the .NET benchmark:
//   node bench/Tokenizer.Benchmarks/npm-tiktoken.js [seconds]
// Needs scripts/deps/tokenizer.sh to have installed tests/tokenizer-reference (npm ci).
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const { get_encoding } = require(path.join(root, 'tests', 'tokenizer-reference', 'node_modules', 'tiktoken'));

const seconds = Number(process.argv[2] ?? 3);
const file = path.join(root, 'tests', 'tokenizer-reference', 'corpus.txt');
const mixed = fs.readFileSync(file, 'utf8');
// Same text as BenchCorpus.Load("english"): the two English sections' bodies, each with its trailing newline.
const english = mixed.split('### ')
  .filter((p) => p.startsWith('english-prose\n') || p.startsWith('english-dialogue\n'))
  .map((p) => p.slice(p.indexOf('\n') + 1))
  .join('');

for (const encoding of ['o200k_base', 'cl100k_base']) {
  const enc = get_encoding(encoding);
  for (const [corpus, text] of [['mixed', mixed], ['english', english]]) {
    const bytes = Buffer.byteLength(text, 'utf8');
    const tokens = enc.encode_ordinary(text).length;
    for (let i = 0; i < 200; i++) enc.encode_ordinary(text);
    let iterations = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < seconds) {
      enc.encode_ordinary(text);
      iterations++;
      elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    }
    const perOp = elapsed / iterations;
    console.log(`npm     ${encoding.padEnd(12)} ${corpus.padEnd(8)} ${String(bytes).padStart(7)} B ${String(tokens).padStart(6)} tok  ${(perOp * 1e6).toFixed(1).padStart(9)} us/op  ${(bytes / perOp / 1e6).toFixed(2).padStart(7)} MB/s  ${(tokens / perOp / 1e6).toFixed(2).padStart(6)} Mtok/s`);
  }
  enc.free();
}
