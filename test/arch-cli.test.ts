/**
 * `lineage arch` end to end: the real executable, its exit status, stdout, stderr and JSON file.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/configs/', import.meta.url));
const DATA = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const haveData = existsSync(DATA);
if (!haveData) console.warn(`arch-cli: ${DATA} is absent, so the tests on real model folders are skipped`);
const dataTest = haveData ? test : test.skip;

function lineage(...args: string[]) {
  const result = spawnSync(process.execPath, [join(ROOT, 'client/bin/lineage.js'), ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const scratch = () => mkdtempSync(join(tmpdir(), 'lineage-arch-'));

test('two config files: table on stdout, JSON section in the file, exit 0', (t) => {
  const out = join(scratch(), 'arch.json');
  const r = lineage('arch', `${FIXTURES}mixtral-8x7b.json`, `${FIXTURES}meta-llama-3-8b.json`, '--json', out, '--tokens', '19.7T');
  t.is(r.status, 0, r.stderr);
  t.is(r.stderr, '');
  t.regex(r.stdout, /^Architecture\n/);
  t.regex(r.stdout, /A: .*mixtral-8x7b\.json \(Mixtral\)/);
  t.regex(r.stdout, /\* total params +46\.7B/);
  t.regex(r.stdout, /Relation: partly-comparable/);
  t.regex(r.stdout, new RegExp(`wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const json = JSON.parse(readFileSync(out, 'utf8')).architecture;
  t.is(json.a.totalParams, 46_702_792_704);
  t.is(json.b.totalParams, 8_030_261_248);
  t.is(json.a.source, `${FIXTURES}mixtral-8x7b.json`);
  t.is(json.compute.tokens, 19.7e12);
  t.is(json.compute.b.flops, 6 * 8_030_261_248 * 19.7e12);
  t.true(Array.isArray(json.diffs) && json.diffs.length > 0);
  t.true(json.comparable.some((g: { group: string; status: string }) => g.group === 'routed_experts' && g.status === 'partial'));
  t.true(Array.isArray(json.notes));
});

dataTest('model folders with weights: the tensors check the config count', (t) => {
  const r = lineage('arch', `${DATA}models/babyllama-105`, `${DATA}models/babyllama-361`);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /A: tensors hold 936,448 parameters; config predicts 936,448 \(exact\)/);
  t.regex(r.stdout, /B: tensors hold 969,216 parameters; config predicts 969,216 \(exact\)/);
  t.regex(r.stdout, /embedding +partial/);
});

test('a folder with config.json and an index but no shards: the index size is checked', (t) => {
  const dir = scratch();
  const config = JSON.parse(readFileSync(`${FIXTURES}meta-llama-3-8b.json`, 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 2 * 8_030_261_248 }, weight_map: { 'lm_head.weight': 'model-00001-of-00004.safetensors' } }));
  const out = join(dir, 'out.json');
  const r = lineage('arch', dir, `${FIXTURES}meta-llama-3-8b.json`, '--json', out);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /A: index total_size 16,060,522,496 bytes \/ 2 = 8,030,261,248 parameters; config predicts 8,030,261,248 \(exact\)/);
  const json = JSON.parse(readFileSync(out, 'utf8')).architecture;
  t.is(json.a.indexCheck.relativeDifference, 0);
  t.is(json.b.indexCheck, null);
  t.is(json.summary.relation, 'identical');
});

test('a missing path: exit 2, one line naming it', (t) => {
  const missing = join(scratch(), 'nope');
  const r = lineage('arch', missing, `${FIXTURES}gemma-7b.json`);
  t.is(r.status, 2);
  t.is(r.stderr, `lineage arch: ${missing}: no such file or folder\n`);
  t.is(r.stdout, '');
});

test('a folder without config.json: exit 2 naming the config file', (t) => {
  const dir = scratch();
  const r = lineage('arch', `${FIXTURES}gemma-7b.json`, dir);
  t.is(r.status, 2);
  t.is(r.stderr, `lineage arch: ${join(dir, 'config.json')}: missing: a model folder needs a config.json\n`);
});

test('invalid JSON: exit 2 naming the file', (t) => {
  const file = join(scratch(), 'config.json');
  writeFileSync(file, '{"hidden_size": 4096,');
  const r = lineage('arch', file, `${FIXTURES}gemma-7b.json`);
  t.is(r.status, 2);
  t.true(r.stderr.startsWith(`lineage arch: ${file}: not valid JSON (`), r.stderr);
  t.is(r.stderr.trimEnd().split('\n').length, 1);
});

test('a JSON file that is not a model config: exit 2 naming it', (t) => {
  const file = join(scratch(), 'tokenizer_config.json');
  writeFileSync(file, JSON.stringify({ model_max_length: 4096, bos_token: '<s>' }));
  const r = lineage('arch', `${FIXTURES}gemma-7b.json`, file);
  t.is(r.status, 2);
  t.is(r.stderr, `lineage arch: ${file}: not a model config: no hidden_size\n`);
});

test('bad usage: wrong argument count or --tokens value gives exit 2', (t) => {
  const one = lineage('arch', `${FIXTURES}gemma-7b.json`);
  t.is(one.status, 2);
  t.regex(one.stderr, /lineage arch: expected A B, got 1 argument\(s\)/);
  const tokens = lineage('arch', `${FIXTURES}gemma-7b.json`, `${FIXTURES}gemma-2-9b.json`, '--tokens', 'lots');
  t.is(tokens.status, 2);
  t.regex(tokens.stderr, /--tokens must be a positive number with an optional K\/M\/B\/T suffix, got 'lots'/);
  const unknown = lineage('arch', `${FIXTURES}gemma-7b.json`, `${FIXTURES}gemma-2-9b.json`, '--frobnicate');
  t.is(unknown.status, 2);
});

test('an unwritable --json path: exit 2 naming it', (t) => {
  const dir = scratch();
  mkdirSync(join(dir, 'taken'));
  const r = lineage('arch', `${FIXTURES}gemma-7b.json`, `${FIXTURES}gemma-2-9b.json`, '--json', join(dir, 'taken'));
  t.is(r.status, 2);
  t.regex(r.stderr, new RegExp(`^lineage arch: ${join(dir, 'taken').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot write the JSON report`));
  t.is(r.stdout, '');
});

test('--help prints usage and exits 0', (t) => {
  const r = lineage('arch', '--help');
  t.is(r.status, 0);
  t.regex(r.stdout, /^usage: lineage arch A B \[--json FILE\] \[--tokens N\]/);
});
