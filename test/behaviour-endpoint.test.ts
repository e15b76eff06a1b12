/**
 * The endpoint client against a real OpenAI-compatible HTTP server on loopback with our forward
 * pass behind it (test/behaviour-server.ts): answers match the local model's, 429s, 500s and slow
 * answers are retried, empty and refused answers are missing (never agreement), the concurrency
 * limit holds, the chat route is the fallback, the cache answers a repeated run, and the key is
 * never printed.
 */
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareBehaviour, EndpointModel, LocalLlamaModel, parseChat, parseCompletion, ResponseCache, tokenKey } from '../core/src/behaviour/index.ts';
import { BadInputError } from '../core/src/errors.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { modelFolder, tokenizer105Json } from './behaviour-fixtures.ts';
import { startOpenAiServer, type Fault } from './behaviour-server.ts';
import { SKIP_REASON, sharedDataPresent, sharedPath } from './helpers/shared-data.ts';
import { tempDir } from './helpers/tmpdir.ts';

// Serial: the faults are timed (a slow answer against a timeout), and a busy process would blur them.
const real = sharedDataPresent ? test.serial : test.skip;
const model = (name: string) => sharedPath(`models/${name}`);
if (!sharedDataPresent) test('endpoint tests on real models', (t) => t.log(SKIP_REASON));

const files = { 'tokenizer.json': tokenizer105Json() };
async function baby(dir = tempDir()): Promise<LocalLlamaModel> {
  return LocalLlamaModel.open(modelFolder(model('babyllama-105'), join(dir, 'babyllama-105'), { files }), { label: 'local babyllama-105' });
}
const fast = { backoffMs: 5, timeoutMs: 10_000 };

real('an endpoint serving babyllama-105 answers as the local model does: related, agreement 1', async (t) => {
  const local = await baby();
  const server = await startOpenAiServer({ model: local, name: 'baby' });
  t.teardown(() => server.close());
  const remote = new EndpointModel({ url: server.url, model: 'baby', ...fast });
  const s = await compareBehaviour(remote, local, { seed: 1 });
  t.log(s.reason);
  t.is(s.related, true);
  t.is(s.agreement, 1);
  t.is(s.topKOverlap, 1);
  t.true(s.jensenShannon! < 1e-9, `${s.jensenShannon}`);
  t.like(s.probes, { total: 40, answered: 40, textSet: 'lineage-prompts-v1', sharedVocab: null });
  t.deepEqual(s.sources.a, { kind: 'endpoint', url: `${server.url}/v1`, model: 'baby', api: 'completions', label: `baby@${server.url.slice(7)}` });
});

real('429s, 500s and slow answers are retried within the concurrency limit; empty and refused answers are missing', async (t) => {
  const local = await baby();
  const empty = new Set(['2 + 2 =', 'A week has seven']);
  const fault = (prompt: string, nth: number, index: number): Fault => {
    if (empty.has(prompt)) return 'empty';
    if (prompt === 'Half of 50 is') return 'refuse';
    if (index < 12 && nth < 2) return '429'; // each prompt meets at most two, within the 4 retries
    if (prompt === 'The capital of France is' && nth === 0) return 'slow';
    if (index % 7 === 3 && nth < 2) return '500';
    return 'ok';
  };
  // The slow answer takes far longer than the timeout, and the timeout is far longer than a normal answer on a loaded machine.
  const server = await startOpenAiServer({ model: local, name: 'baby', fault, slowMs: 12_000 });
  t.teardown(() => server.close());
  const remote = new EndpointModel({ url: `${server.url}/v1/`, model: 'baby', concurrency: 2, timeoutMs: 4000, backoffMs: 5, retries: 4 });
  const s = await compareBehaviour(remote, local, { seed: 1, minAnswered: 10 });
  t.log(s.reason, JSON.stringify(server.faults), `max in flight ${server.maxInFlight}`);
  t.true(server.faults['429'] >= 6 && server.faults['500'] >= 1 && server.faults.slow === 1);
  t.true(server.maxInFlight <= 2, `in flight ${server.maxInFlight}`);
  const reasons = s.probes.missingExamples.map((m) => m.reason);
  t.like(s.probes, { total: 40, answered: 37, missingA: 3, missingB: 0 }, reasons.join('; '));
  t.is(reasons.filter((r) => r === 'empty answer (no tokens)').length, 2, reasons.join('; '));
  t.true(reasons.includes('refused (finish_reason content_filter)'), reasons.join('; '));
  // Everything answered agrees (the same model): the missing ones were not counted either way.
  t.is(s.agreement, 1);
  t.is(s.related, true);
});

real('an endpoint that always fails leaves every probe missing and the question open', async (t) => {
  const local = await baby();
  const server = await startOpenAiServer({ model: local, name: 'baby', fault: () => '500' });
  t.teardown(() => server.close());
  const remote = new EndpointModel({ url: server.url, model: 'baby', retries: 2, backoffMs: 1 });
  const s = await compareBehaviour(remote, local, { seed: 1 });
  t.is(s.related, null);
  t.is(s.agreement, null);
  t.is(s.probes.missingA, 40);
  t.regex(s.probes.missingExamples[0]!.reason, /^HTTP 500: \{"error":\{"message":"internal error"\}\} after 3 attempt\(s\)$/);
  t.is(remote.transport.requests, 40 * 3);
});

real('without a completions route the chat route is used, and said so', async (t) => {
  const local = await baby();
  const server = await startOpenAiServer({ model: local, name: 'baby', routes: { completions: false } });
  t.teardown(() => server.close());
  const remote = new EndpointModel({ url: server.url, model: 'baby', ...fast });
  const s = await compareBehaviour(remote, local, { seed: 1 });
  t.is(s.sources.a.kind === 'endpoint' && s.sources.a.api, 'completions+chat');
  t.is(s.agreement, 1);
  t.is(s.related, true);
});

real('two endpoints: babyllama-105 against a model of its shape trained on nothing is not related', async (t) => {
  const dir = tempDir();
  const local = await baby(dir);
  synthesize('independent', { like: model('babyllama-105'), out: join(dir, 'random'), seed: 3 });
  const randomModel = await LocalLlamaModel.open(modelFolder(join(dir, 'random'), join(dir, 'random-tok'), { files }));
  const a = await startOpenAiServer({ model: local, name: 'baby' });
  const b = await startOpenAiServer({ model: randomModel, name: 'random' });
  t.teardown(() => Promise.all([a.close(), b.close()]).then(() => undefined));
  const s = await compareBehaviour(new EndpointModel({ url: a.url, model: 'baby', ...fast }), new EndpointModel({ url: b.url, model: 'random', ...fast }), { seed: 1 });
  t.log(s.reason);
  t.not(s.related, true);
  t.is(s.probes.answered, 40);
});

real('a repeated run is answered from the cache, on disk, without the key', async (t) => {
  const local = await baby();
  const server = await startOpenAiServer({ model: local, name: 'baby', apiKey: 'sk-test-SECRET-1234' });
  t.teardown(() => server.close());
  const folder = join(tempDir(), 'cache');
  const first = new EndpointModel({ url: server.url, model: 'baby', apiKey: 'sk-test-SECRET-1234', cache: new ResponseCache(folder), ...fast });
  const s1 = await compareBehaviour(first, local, { seed: 1 });
  t.is(server.requests, 40);
  const second = new EndpointModel({ url: server.url, model: 'baby', apiKey: 'sk-test-SECRET-1234', cache: new ResponseCache(folder), ...fast });
  const s2 = await compareBehaviour(second, local, { seed: 1 });
  t.is(server.requests, 40, 'no request the second time');
  t.is(second.cache.hits, 40);
  t.deepEqual(s2, s1);
  const names = readdirSync(folder);
  t.is(names.length, 40);
  for (const name of names) t.false(readFileSync(join(folder, name), 'utf8').includes('SECRET'));
  // A wrong key is bad input, named by the endpoint, and the key is not in the message.
  const wrong = new EndpointModel({ url: server.url, model: 'baby', apiKey: 'sk-wrong-SECRET', ...fast });
  const err = await t.throwsAsync(compareBehaviour(wrong, local, { seed: 1 }), { instanceOf: BadInputError });
  t.regex(err!.message, /refused the request \(HTTP 401\): check the API key/);
  t.false(err!.message.includes('SECRET'));
});

test('responses are untrusted: malformed, empty and refused shapes are missing; token texts become byte keys', (t) => {
  t.deepEqual(parseCompletion(null, 5), { missing: 'the response is not a JSON object' });
  t.deepEqual(parseCompletion({ choices: [] }, 5), { missing: 'no choices in the response (empty answer)' });
  t.deepEqual(parseCompletion({ error: { message: 'overloaded' } }, 5), { missing: 'the endpoint answered with an error (overloaded)' });
  t.deepEqual(parseCompletion({ choices: [{ text: '', logprobs: null }] }, 5), { missing: 'empty answer (no text, no logprobs)' });
  t.deepEqual(parseCompletion({ choices: [{ text: ' the', logprobs: null }] }, 5), { greedy: { key: ' the', logprob: 0 }, top: [] });
  const ok = parseCompletion({ choices: [{ text: 'é', logprobs: { tokens: ['é'], token_logprobs: [-0.1], top_logprobs: [{ é: -0.1, a: -3, b: 'x', c: -2 }] } }] }, 2);
  t.deepEqual(ok, { greedy: { key: '\u00c3\u00a9', logprob: -0.1 }, top: [{ key: '\u00c3\u00a9', logprob: -0.1 }, { key: 'c', logprob: -2 }] });
  t.deepEqual(parseChat({ choices: [{ message: { content: null, refusal: 'no' } }] }, 5), { missing: 'refused (message.refusal)' });
  t.deepEqual(parseChat({ choices: [{ message: { content: '' }, logprobs: { content: [] } }] }, 5), { missing: 'empty answer (no content, no logprobs)' });
  t.is(tokenKey('bytes:\\xe2\\x80'), '\u00e2\u0080');
  t.is(tokenKey(' Paris'), ' Paris');
  t.throws(() => new EndpointModel({ url: 'ftp://x', model: 'm' }), { instanceOf: BadInputError, message: /ftp: is not http or https/ });
  t.throws(() => new EndpointModel({ url: 'http://user:pw@host', model: 'm' }), { instanceOf: BadInputError, message: /put credentials in --api-key/ });
});
