/** `lineage synth` and `lineage compare` end to end, as a user runs them. */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers/tmpdir.ts';

const BIN = fileURLToPath(new URL('../client/bin/lineage.js', import.meta.url));
const lineage = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

const root = tempDir();
const base = join(root, 'base');
const derived = join(root, 'derived');
const independent = join(root, 'independent');

test.before(() => {
  for (const args of [
    ['synth', 'base', '--out', base, '--layout', 'moe', '--layers', '2', '--experts', '4'],
    ['synth', 'derivative', '--like', base, '--drift', '0.02', '--out', derived],
    ['synth', 'independent', '--like', base, '--out', independent],
  ]) {
    const r = lineage(...args);
    if (r.status !== 0) throw new Error(`lineage ${args.join(' ')}: ${r.stderr}`);
  }
});

test('compare writes the JSON report with the contract fields and a readable summary', (t) => {
  const json = join(root, 'derived.json');
  const r = lineage('compare', base, derived, '--json', json, '--threads', '2');
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /weights: \d+ pair\(s\) compared/);
  t.regex(r.stdout, /expert\.down/);
  const report = JSON.parse(readFileSync(json, 'utf8'));
  t.is(report.schemaVersion, 1);
  t.truthy(report.models.a && report.models.b && report.architecture && report.tokenizer);
  t.is(report.weights.mode, 'exact');
  t.is(report.weights.hashAlgorithm, 'xxh3-128');
  const tensor = report.weights.tensors.find((x: { role: string }) => x.role === 'expert.down');
  for (const key of ['name', 'nameB', 'role', 'layer', 'expert', 'shape', 'n', 'cosine', 'centeredCosine', 'relL2', 'mse', 'identical', 'hashA', 'hashB', 'note']) {
    t.true(key in tensor, `weights.tensors[].${key}`);
  }
  t.true(tensor.cosine > 0.999 && tensor.cosine < 1);
  t.is(typeof tensor.expert, 'number');
});

test('compare of independent models: matrices near 0, norms only raw-similar', (t) => {
  const json = join(root, 'independent.json');
  t.is(lineage('compare', base, independent, '--json', json, '--quiet').status, 0);
  const { weights } = JSON.parse(readFileSync(json, 'utf8'));
  const matrices = weights.tensors.filter((x: { group: string }) => x.group === 'routed_expert' || x.group === 'attention');
  t.true(matrices.every((x: { cosine: number }) => Math.abs(x.cosine) < 0.05));
  const norms = weights.tensors.filter((x: { group: string }) => x.group === 'norm');
  t.true(norms.every((x: { cosine: number; centeredCosine: number }) => x.cosine > 0.99 && Math.abs(x.centeredCosine) < 0.2));
});

test('--hash sha256 and --kernel js are honoured and reported', (t) => {
  const json = join(root, 'sha.json');
  t.is(lineage('compare', base, base, '--json', json, '--hash', 'sha256', '--kernel', 'js', '--quiet').status, 0);
  const { weights } = JSON.parse(readFileSync(json, 'utf8'));
  t.is(weights.hashAlgorithm, 'sha256');
  t.is(weights.kernel, 'js');
  t.is(weights.summary.identical, weights.tensors.length);
  t.regex(weights.tensors[0].hashA, /^[0-9a-f]{64}$/);
});

test('--md and --html write the report a person reads, verdict first', (t) => {
  const md = join(root, 'report.md');
  const html = join(root, 'report.html');
  const r = lineage('compare', base, derived, '--md', md, '--html', html, '--quiet');
  t.is(r.status, 0, r.stderr);
  const page = readFileSync(html, 'utf8');
  t.regex(page, /derived/i);
  t.true(page.indexOf('<svg') > 0, 'charts are inline SVG');
  t.false(/https?:\/\//.test(page.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '')), 'no network references');
  const text = readFileSync(md, 'utf8');
  t.regex(text.split('\n').slice(0, 10).join('\n'), /derived/i);
});

test('bad input: exit status 2 and one line naming the file', (t) => {
  const missing = lineage('compare', base, join(root, 'nope'));
  t.is(missing.status, 2);
  t.regex(missing.stderr, /nope: no such folder/);
  t.is(missing.stderr.trim().split('\n').length, 1);

  const broken = join(root, 'broken');
  t.is(lineage('synth', 'base', '--out', broken, '--layers', '1').status, 0);
  writeFileSync(join(broken, 'model.safetensors'), readFileSync(join(broken, 'model.safetensors')).subarray(0, 20_000)); // header intact, data cut short
  const truncated = lineage('compare', base, broken);
  t.is(truncated.status, 2);
  t.regex(truncated.stderr, /broken\/model\.safetensors: tensor '.*': data_offsets .* run past the end of the file/);
});

test('bad usage: exit status 2', (t) => {
  t.is(lineage('compare', base).status, 2);
  t.is(lineage('compare', base, derived, '--threads', 'zero').status, 2);
  t.is(lineage('compare', base, derived, '--hash', 'md5').status, 2);
  t.is(lineage('compare', base, derived, '--frobnicate').status, 2);
  t.is(lineage('compare', base, derived, '--sample', '0').status, 2);
  t.is(lineage('compare', base, derived, '--sample', '1.5').status, 2);
  t.is(lineage('compare', base, derived, '--confidence', '1').status, 2);
  t.is(lineage('compare', base, derived, '--html', join(root, 'no-such-folder', 'r.html')).status, 2, 'an unwritable report path is bad input');
  t.is(lineage('synth', 'derivative', '--out', join(root, 'x')).status, 2);
  t.is(lineage('nonsense').status, 2);
  t.is(lineage('compare', '--help').status, 0);
});
