'use strict';
// The tokenizer test corpus: the hand-written sections of corpus.txt plus generated entries
// (random Unicode, whitespace runs, long repetitions, lone surrogates, ...). Deterministic:
// the same entries on every run, so a failure names an entry that can be reproduced.

const fs = require('node:fs');
const path = require('node:path');

// mulberry32: a tiny seeded PRNG, so "random" entries are the same every run.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function readSections(file) {
  const text = fs.readFileSync(file, 'utf8');
  const entries = [];
  let name = null;
  let lines = [];
  const flush = () => {
    if (name !== null) entries.push({ name: `corpus/${name}`, text: lines.join('\n').replace(/\n+$/, '') });
  };
  for (const line of text.split('\n')) {
    const m = /^### (.+)$/.exec(line);
    if (m) {
      flush();
      name = m[1];
      lines = [];
    } else {
      lines.push(line);
    }
  }
  flush();
  return entries;
}

// Code point pools for random text; each is [from, to] inclusive.
const POOLS = {
  ascii: [[0x20, 0x7e]],
  controls: [[0x00, 0x1f], [0x7f, 0x9f]],
  latin: [[0xa0, 0x24f], [0x1e00, 0x1eff]],
  combining: [[0x300, 0x36f], [0x1ab0, 0x1aff], [0x20d0, 0x20ff]],
  scripts: [[0x370, 0x3ff], [0x400, 0x52f], [0x590, 0x5ff], [0x600, 0x6ff], [0x900, 0x97f], [0xe00, 0xe7f], [0x10a0, 0x10ff], [0x1100, 0x11ff]],
  cjk: [[0x3040, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0xff00, 0xffef]],
  symbols: [[0x2000, 0x2bff], [0x3000, 0x303f], [0xfe00, 0xfe0f], [0xfff0, 0xfffd]],
  privateUse: [[0xe000, 0xf8ff]],
  astralLetters: [[0x10000, 0x100fa], [0x10400, 0x1044f], [0x1d400, 0x1d7ff], [0x20000, 0x2a6df], [0x30000, 0x3134a]],
  astralSymbols: [[0x1f300, 0x1faff], [0x1f000, 0x1f0ff], [0xe0000, 0xe007f], [0xe0100, 0xe01ef]],
  astralAny: [[0x10000, 0x10ffff]],
  bmpAny: [[0x0, 0xd7ff], [0xe000, 0xffff]],
};

function pick(r, ranges) {
  const [from, to] = ranges[Math.floor(r() * ranges.length)];
  return from + Math.floor(r() * (to - from + 1));
}

function randomText(r, pools, length) {
  let s = '';
  for (let i = 0; i < length; i++) {
    const roll = r();
    if (roll < 0.12) { s += ' '; continue; }
    if (roll < 0.14) { s += ['\n', '\r\n', '\t', '  ', '\r', '\u00a0', '\u3000'][Math.floor(r() * 7)]; continue; }
    s += String.fromCodePoint(pick(r, POOLS[pools[Math.floor(r() * pools.length)]]));
  }
  return s;
}

function generated() {
  const out = [];
  const add = (name, text) => out.push({ name: `gen/${name}`, text });

  add('empty', '');
  add('single-space', ' ');
  add('single-letter', 'a');
  add('mixed-newlines', 'one\r\ntwo\rthree\n\nfour\r\n\r\n  five\n\t\n\r\r\n   \n');
  add('trailing-spaces', 'word   \nword\t\t\n   indented\n      deeper   ');
  add('space-runs', [1, 2, 3, 4, 7, 8, 15, 16, 31, 64, 200].map((n) => ' '.repeat(n) + 'x').join(''));
  add('whitespace-kinds', 'a\u00a0b\u2000c\u2009d\u200ae\u202ff\u205fg\u3000h\u1680i\u0085j\u2028k\u2029l\u000bm\u000cn');
  add('whitespace-before-newlines', 'a  \n  \n\n   b \r\n \r\n c\t\n\t\n');
  add('long-space-run', ' '.repeat(5000) + 'end');
  add('long-newline-run', '\n'.repeat(700) + 'x' + '\r\n'.repeat(300));
  add('long-letter-run', 'a'.repeat(3000));
  add('long-mixed-letter-run', 'ab'.repeat(900) + 'xyz'.repeat(300));
  add('long-punct-run', '='.repeat(1200) + '-'.repeat(40) + '*'.repeat(300));
  add('long-digit-run', '9'.repeat(1000) + '0123456789'.repeat(30));
  add('long-emoji-run', '🙂'.repeat(400));
  add('long-cjk-run', '漢字'.repeat(600));
  add('long-base64', Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 131 + 7) % 256)).toString('base64'));
  add('long-hex', Array.from({ length: 800 }, (_, i) => ((i * 2654435761) >>> 0).toString(16)).join(''));
  add('numbers', '1 12 123 1234 12345 9999999 3.14 1,000,000 ١٢٣٤ ۱۲۳ १२३४ ১২৩ ๑๒๓ １２３ ²³¹ ¼½ Ⅻ 𝟘𝟙𝟚 𝟏𝟐 ⑴⑵');
  add('contractions-fold', "he's HE'S he'ſ he'ſx dog'ſ DOG'ſ a'K 'ſ 'ſt it'S I'LL we'VE they'RE she'D I'M");
  add('contractions-edge', "'s 's' ''s '' ' s 'll'll 'd'd 'ss x'sx 'S's ’s");
  add('apostrophes-after-nonletters', "1's 2'd ?'s ''ll  's \n's");
  add('slash-newline', 'a/\nb//\r\nc/ /\n/x\n\n/ ');
  add('punct-then-newlines', '!!!\n\n\n???\r\n\r\n;;;\n');
  add('zwj-and-variation', 'a\u200db\u200cc\u200bd\ufeffe\u00adf\ufe0fg\u034fh');
  add('combining-marks', 'e\u0301 a\u0308\u0304 Z\u0351\u0352\u0353\u0354 क्षि ñ n\u0303 \u0301x x\u20dd');
  add('tags-and-selectors', '🏴\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f} 字\u{e0100} 葛\u{e0101}');
  add('astral-letters', '𐐀𐐨𐐁 𝐀𝐛𝐂 𠀀𠀁𡀀 𪜀 𝔘𝔫𝔦 𐌰𐌱𐌲 Ab𝐀b 𝐀1 1𝐀 !𝐀x');
  add('astral-digits', '𝟎𝟏𝟐𝟑𝟒𝟓 𝟙𝟚𝟛𝟜 𑁦𑁧𑁨 x𝟎 𝟎x 12𝟑4');
  add('emoji-mix', 'a😀 😀a 😀😀 a😀b !😀! 👍🏽👍🏽 👨‍👩‍👧 🇺🇸🇬🇧 1️⃣2️⃣ 😀\n😀 😀 ');
  add('unassigned-and-noncharacters', '\u0378\u0379 \ufdd0\ufdef \ufffe\uffff \u{1fffe}\u{1ffff} \u{10fffd} \u{e01f0} \u{2fffd}');
  add('private-use', '\ue000\ue001 \uf8ff abc\ue123def \u{f0000}\u{10fffd}');
  add('nul-and-controls', 'a\u0000b\u0001c\u001fd\u007fe\u0080f\u009fg\u0007');
  add('special-adjacent', 'x<|endoftext|>y<|endofprompt|>z<|fim_prefix|><|fim_middle|><|fim_suffix|>');
  add('special-only', '<|endoftext|>');
  add('special-partial', '<|endoftext<|endoftext|<|<||>|>');

  const r = rng(20240917);
  const mixes = [
    ['ascii'], ['ascii', 'latin', 'combining'], ['scripts', 'combining', 'ascii'], ['cjk', 'ascii'],
    ['symbols', 'ascii'], ['astralLetters', 'ascii', 'latin'], ['astralSymbols', 'ascii', 'cjk'],
    ['astralAny'], ['bmpAny'], ['bmpAny', 'astralAny'], ['controls', 'ascii'], ['privateUse', 'ascii'],
    ['astralLetters', 'combining', 'astralSymbols'],
  ];
  for (let i = 0; i < 52; i++) {
    const pools = mixes[i % mixes.length];
    add(`random-${i}-${pools.join('+')}`, randomText(r, pools, 60 + Math.floor(r() * 400)));
  }

  return out;
}

// Texts with lone surrogates cannot be carried in a JSON string to every parser, so they are
// sent as UTF-16 code units; tiktoken (fed UTF-8) sees each lone surrogate as U+FFFD.
function loneSurrogates() {
  return [
    { name: 'lone/high', units: [0x61, 0xd800, 0x62] },
    { name: 'lone/low', units: [0xdc00] },
    { name: 'lone/high-at-end', units: [0x78, 0x20, 0xd83d] },
    { name: 'lone/reversed-pair', units: [0xde00, 0xd83d, 0x21] },
    { name: 'lone/mixed-with-pairs', units: [0xd83d, 0xde00, 0xd800, 0x20, 0xd83d, 0xd83d, 0xde00, 0x61, 0xdfff] },
  ].map((e) => ({ ...e, text: String.fromCharCode(...e.units) }));
}

function corpus() {
  return [...readSections(path.join(__dirname, 'corpus.txt')), ...generated(), ...loneSurrogates()];
}

module.exports = { corpus, readSections };
