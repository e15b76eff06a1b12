/** `lineage probe` end to end: the real executable, its exit status, stdout, stderr, JSON and Markdown files. */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalLlamaModel } from '../core/src/behaviour/index.ts';
import { lineage, modelFolder, tokenizer105Json } from './behaviour-fixtures.ts';
import { startOpenAiServer } from './behaviour-server.ts';
import { SKIP_REASON, sharedDataPresent, sharedPath } from './helpers/shared-data.ts';
import { tempDir } from './helpers/tmpdir.ts';

const real = sharedDataPresent ? test : test.skip;
const model = (name: string) => sharedPath(`models/${name}`);
if (!sharedDataPresent) test('real-model probe CLI tests', (t) => t.log(SKIP_REASON));


real('stories260k against its BF16 copy: related, JSON, Markdown and HTML written, exit 0', async (t) => {
  const dir = tempDir();
  const json = join(dir, 'probe.json');
  const md = join(dir, 'probe.md');
  const html = join(dir, 'probe.html');
  const r = await lineage(['probe', model('stories260k'), model('stories260k-bf16'), '--probes', '80', '--seed', '5', '--json', json, '--md', md, '--html', html]);
  t.is(r.status, 0, r.stderr);
  t.is(r.stderr, '');
  t.regex(r.stdout, /^behaviour: related \(p = 0\.001, α = 0\.01\)/);
  const { behaviour } = JSON.parse(readFileSync(json, 'utf8'));
  t.is(behaviour.related, true);
  t.true(behaviour.pValue <= 0.01);
  t.true(behaviour.agreement > 0.8);
  t.like(behaviour.probes, { total: 80, answered: 80, seed: 5, sharedVocab: 512 });
  t.like(behaviour.sources.a, { kind: 'local', path: model('stories260k').replace(/\/$/, '') });
  t.is(typeof behaviour.falsePositiveRate.null, 'string');
  t.regex(readFileSync(md, 'utf8'), /^# Behaviour\n\n\*\*related\*\*/);
  const page = readFileSync(html, 'utf8');
  t.regex(page, /^<!doctype html>/);
  t.regex(page, /<h1>Behaviour<\/h1>\n<p><strong>related<\/strong>/);
  t.regex(page, /<tr><td>greedy agreement<\/td><td>0\.\d{3}<\/td>/);
  t.false(page.includes('| '), 'every table row became a table');
});

real('babyllama-105 against babyllama-361: not related, exit 0', async (t) => {
  const json = join(tempDir(), 'probe.json');
  const r = await lineage(['probe', model('babyllama-105'), model('babyllama-361'), '--probes', '80', '--json', json, '--quiet']);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, '');
  const { behaviour } = JSON.parse(readFileSync(json, 'utf8'));
  t.is(behaviour.related, false);
  t.true(behaviour.pValue > 0.01);
});

real('bad input and bad usage: exit 2 with one line naming the file or the option', async (t) => {
  const dir = tempDir();
  const gemma = modelFolder(model('stories260k'), join(dir, 'gemma'), { config: (c) => ({ ...c, model_type: 'gemma' }) });
  const cases: [string[], RegExp][] = [
    [['probe', join(dir, 'absent'), model('stories260k')], /^lineage probe: .*absent: no such folder\n$/],
    [['probe', gemma, model('stories260k')], /^lineage probe: .*gemma\/config\.json: model_type 'gemma' is not run by the built-in forward pass/],
    [['probe', model('stories260k')], /^lineage probe: expected A B, got 1 argument\(s\)\n$/],
    [['probe', model('stories260k'), model('stories260k'), '--probes', '1.5'], /--probes must be an integer >= 0 <= 20000, got '1.5'/],
    [['probe', model('stories260k'), model('stories260k'), '--probes', '20', '--json', join(dir, 'no', 'such', 'dir.json')], /dir\.json: cannot write the report \(ENOENT\)/],
  ];
  for (const [args, message] of cases) {
    const r = await lineage(args);
    t.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message);
    t.is(r.stderr.trim().split('\n').length, 1);
  }
});

real('an endpoint side: --endpoint-a, --model-a and the key from --api-key-a or the environment, never printed', async (t) => {
  const dir = tempDir();
  const local = modelFolder(model('babyllama-105'), join(dir, 'baby'), { files: { 'tokenizer.json': tokenizer105Json() } });
  const secret = 'sk-cli-SECRET-98765';
  const server = await startOpenAiServer({ model: await LocalLlamaModel.open(local), name: 'baby', apiKey: secret });
  t.teardown(() => server.close());
  const json = join(dir, 'probe.json');
  const md = join(dir, 'probe.md');
  const r = await lineage(['probe', '--endpoint-a', server.url, '--model-a', 'baby', '--api-key-a', secret, local, '--json', json, '--md', md, '--cache', join(dir, 'cache')]);
  t.is(r.status, 0, r.stderr);
  const text = readFileSync(json, 'utf8');
  const { behaviour } = JSON.parse(text);
  t.is(behaviour.related, true);
  t.is(behaviour.agreement, 1);
  t.like(behaviour.sources.a, { kind: 'endpoint', model: 'baby', api: 'completions' });
  for (const out of [r.stdout, r.stderr, text, readFileSync(md, 'utf8')]) t.false(out.includes(secret));
  // The key from the environment; a wrong one is bad input (exit 2), named by the endpoint, the key not shown.
  const env = await lineage(['probe', '--endpoint-a', server.url, '--model-a', 'baby', local, '--quiet'], { ...process.env, LINEAGE_API_KEY_A: secret });
  t.is(env.status, 0, env.stderr);
  const wrong = await lineage(['probe', '--endpoint-a', server.url, '--model-a', 'baby', local], { ...process.env, LINEAGE_API_KEY_A: 'sk-wrong-SECRET' });
  t.is(wrong.status, 2);
  t.regex(wrong.stderr, /^lineage probe: http:\/\/127\.0\.0\.1:\d+\/v1: the endpoint refused the request \(HTTP 401\): check the API key\n$/);
  t.false(wrong.stderr.includes('SECRET'));
  const usage = await lineage(['probe', '--endpoint-a', server.url, local]);
  t.is(usage.status, 2);
  t.regex(usage.stderr, /--endpoint-a needs --model-a NAME/);
});
