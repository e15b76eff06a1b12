/**
 * `lineage tokenizer` end to end: the real executable, its exit status, stdout, stderr and JSON
 * file, on tokenizer files, model folders, a folder without a tokenizer, and bad input.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATA, SOURCES, testWith } from './tokenizer-sources.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

function lineage(...args: string[]) {
  const result = spawnSync(process.execPath, [join(ROOT, 'client/bin/lineage.js'), 'tokenizer', ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const scratch = () => mkdtempSync(join(tmpdir(), 'lineage-tokenizer-'));

testWith(['mpt', 'neox'])('two GGUF files: summary on stdout, JSON section in the file, exit 0', (t) => {
  const out = join(scratch(), 'tok.json');
  const r = lineage(SOURCES.mpt, SOURCES.neox, '--json', out);
  t.is(r.status, 0, r.stderr);
  t.is(r.stderr, '');
  t.regex(r.stdout, /relation: identical/);
  t.regex(r.stdout, /vocab size: A 50432, B 50432 \(exact match\)/);
  t.regex(r.stdout, /wrote /);
  const s = JSON.parse(readFileSync(out, 'utf8')).tokenizer;
  t.true(s.available);
  t.is(s.relation, 'identical');
  t.is(s.vocabSizeA, 50432);
  t.is(s.vocabSizeB, 50432);
  t.is(s.sharedTokens.count, 50432);
  t.is(s.sameIdRate, 1);
  t.is(s.encodingAgreement.corpus, 'builtin');
  t.is(s.encodingAgreement.identicalIdsShare, 1);
  t.is(typeof s.relationReason, 'string');
  t.regex(s.vocabHashA, /^[0-9a-f]{64}$/);
});

testWith(['phi3Merge', 'llama2'])('a model folder (tokenizer.json.gz + config.json) against a GGUF, with --texts', (t) => {
  const dir = scratch();
  copyFileSync(SOURCES.phi3Merge, join(dir, 'tokenizer.json.gz'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'phi3', vocab_size: 32064 }));
  const texts = join(dir, 'texts.json');
  writeFileSync(texts, JSON.stringify(['Hello world', '안녕하세요', 'def f(x):\n    return x']));
  const out = join(dir, 'out.json');
  const r = lineage(dir, SOURCES.llama2, '--texts', texts, '--json', out);
  t.is(r.status, 0, r.stderr);
  const s = JSON.parse(readFileSync(out, 'utf8')).tokenizer;
  t.is(s.relation, 'extension');
  t.is(s.configVocabSizeA, 32064);
  t.is(s.configVocabSizeB, null);
  t.is(s.a.path, join(dir, 'tokenizer.json.gz'));
  t.is(s.encodingAgreement.corpus, 'file');
  t.is(s.encodingAgreement.texts, 3);
  t.is(s.encodingAgreement.identicalIdsShare, 1);
  t.regex(r.stdout, /config vocab_size A 32064, B unknown/);
});

testWith(['llama2'])('a model folder without tokenizer files: the section says so, exit 0', (t) => {
  const folder = `${DATA}models/stories260k`;
  const out = join(scratch(), 'out.json');
  const r = lineage(folder, SOURCES.llama2, '--json', out);
  t.is(r.status, 0, r.stderr);
  const s = JSON.parse(readFileSync(out, 'utf8')).tokenizer;
  t.false(s.available);
  t.true(s.reason.includes(folder), s.reason);
  t.regex(r.stdout, /tokenizer: not compared/);
});

test('bad input: an unknown file gives exit 2 and one line naming it', (t) => {
  const dir = scratch();
  const junk = join(dir, 'tokenizer.json');
  writeFileSync(junk, '{"hello": "world"}');
  const r = lineage(junk, junk);
  t.is(r.status, 2);
  t.is(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, r.stderr);
  t.true(lines[0]!.includes(junk), r.stderr);
});

test('bad input: a missing file, a truncated GGUF, unreadable --texts', (t) => {
  const dir = scratch();
  const missing = join(dir, 'missing.tiktoken');
  const r1 = lineage(missing, missing);
  t.is(r1.status, 2);
  t.true(r1.stderr.includes(missing), r1.stderr);

  const gguf = join(dir, 'cut.gguf');
  writeFileSync(gguf, Buffer.from('GGUF\x03\x00\x00\x00\x00\x00', 'latin1'));
  const r2 = lineage(gguf, gguf);
  t.is(r2.status, 2);
  t.is(r2.stderr.trim().split('\n').length, 1, r2.stderr);
  t.true(r2.stderr.includes(gguf), r2.stderr);

  const texts = join(dir, 'texts.json');
  writeFileSync(texts, '[1, 2]');
  const tik = join(dir, 'x.tiktoken');
  writeFileSync(tik, `${Buffer.from('a').toString('base64')} 0\n`);
  const r3 = lineage(tik, tik, '--texts', texts);
  t.is(r3.status, 2);
  t.true(r3.stderr.includes(texts), r3.stderr);
});

test('usage: --help prints usage (exit 0); a missing argument is exit 2', (t) => {
  const help = lineage('--help');
  t.is(help.status, 0);
  t.regex(help.stdout, /^usage: lineage tokenizer A B/);
  const one = lineage('only-one');
  t.is(one.status, 2);
  t.regex(one.stderr, /expected A B/);
  const unknown = lineage('a', 'b', '--bogus');
  t.is(unknown.status, 2);
});
