/**
 * The built-in Llama forward pass on real trained weights (../shared/data/models), checked
 * against the facts the models' README states: babyllama-105 greedy-decodes a known TinyStories
 * opening under its 105-piece vocabulary, and stories260k's BF16 copy agrees with the F32 model's
 * argmax on about 88 % of the positions of a random-token probe.
 */
import test from 'ava';
import { join } from 'node:path';
import { allLogits, argmax, greedyDecode, lastLogits, loadLlamaWeights, LocalLlamaModel } from '../core/src/behaviour/index.ts';
import { logSoftmax, topIndices } from '../core/src/behaviour/logits.ts';
import { BadInputError, LineageError } from '../core/src/errors.ts';
import { Random } from '../core/src/synth/random.ts';
import { decode105, modelFolder, tokenizer105Json } from './behaviour-fixtures.ts';
import { SKIP_REASON, sharedDataPresent, sharedPath } from './helpers/shared-data.ts';
import { tempDir } from './helpers/tmpdir.ts';

const real = sharedDataPresent ? test : test.skip;
const model = (name: string) => sharedPath(`models/${name}`);
if (!sharedDataPresent) test('real-weight forward tests', (t) => t.log(SKIP_REASON));

real('babyllama-105 greedy-decodes the TinyStories opening its README gives', (t) => {
  const w = loadLlamaWeights(model('babyllama-105'));
  const text = decode105(greedyDecode(w, [1], 160));
  t.log(text);
  t.true(text.startsWith(' Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. One day, she went to the park with her mommy and daddy.'), text);
});

real('stories260k BF16 agrees with F32 on about 88 % of argmaxes of a random-token probe; logits differ by bf16 rounding only', (t) => {
  const f32 = loadLlamaWeights(model('stories260k'));
  const bf16 = loadLlamaWeights(model('stories260k-bf16'));
  t.deepEqual(f32.dtypes, ['F32']);
  t.deepEqual(bf16.dtypes, ['BF16']);
  const random = new Random(7, 'probe');
  const tokens = [1, ...Array.from({ length: 255 }, () => 3 + Math.floor(random.uniform() * 509))];
  const a = allLogits(f32, tokens);
  const b = allLogits(bf16, tokens);
  let same = 0;
  let maxDiff = 0;
  for (let i = 0; i < tokens.length; i++) {
    if (argmax(a[i]!) === argmax(b[i]!)) same++;
    for (let v = 0; v < 512; v++) maxDiff = Math.max(maxDiff, Math.abs(a[i]![v]! - b[i]![v]!));
  }
  const rate = same / tokens.length;
  t.log(`argmax agreement ${rate.toFixed(3)} over ${tokens.length} positions; max |Δlogit| ${maxDiff.toFixed(3)}`);
  t.true(rate > 0.8 && rate < 0.97, `agreement ${rate}`);
  t.true(maxDiff > 0.01 && maxDiff < 3, `max logit difference ${maxDiff}`);
});

real('the cached step-by-step pass gives the same last logits as decoding from a fresh session', (t) => {
  const w = loadLlamaWeights(model('babyllama-361'));
  const prompt = [1, 40, 200, 7, 300, 12];
  const last = lastLogits(w, prompt);
  const all = allLogits(w, prompt);
  t.deepEqual([...last], [...all[all.length - 1]!]);
  // Greedy continuation by one token is the argmax of the last logits.
  t.deepEqual(greedyDecode(w, prompt, 1), [argmax(last)]);
});

real('a local model answers token and text probes; text probes name tokens by their bytes', async (t) => {
  const dir = modelFolder(model('babyllama-105'), join(tempDir(), 'babyllama-105-tok'), { files: { 'tokenizer.json': tokenizer105Json() } });
  const m = await LocalLlamaModel.open(dir);
  t.true(m.acceptsText);
  const [text, tokens, outside] = await m.next([
    { kind: 'text', text: 'Once upon a time, there was a little' },
    { kind: 'tokens', ids: [1, 31, 9, 22] },
    { kind: 'tokens', ids: [1, 105] },
  ], { topK: 5 });
  if (!text || 'missing' in text || !tokens || 'missing' in tokens) return t.fail('expected answers');
  // "…there was a little" is followed by a space (the next word starts with ▁).
  t.is(text.greedy.key, ' ');
  t.is(text.top.length, 5);
  t.true(text.top.every((c, i) => i === 0 || c.logprob <= text.top[i - 1]!.logprob));
  t.is(tokens.logprobs!.length, 105);
  t.deepEqual(outside, { missing: 'token id 105 is outside the vocabulary (0..104)' });
  const plain = await LocalLlamaModel.open(model('babyllama-105'));
  t.false(plain.acceptsText);
  const [answer] = await plain.next([{ kind: 'text', text: 'Once' }], { topK: 3 });
  t.regex((answer as { missing: string }).missing, /text prompts need a tokenizer \(no tokenizer files/);
});

real('configs the forward pass would run wrongly, and tensors that do not fit the config, are refused by name', (t) => {
  const root = tempDir();
  const cases: [string, (c: Record<string, unknown>) => Record<string, unknown>, RegExp][] = [
    ['rope', (c) => ({ ...c, rope_scaling: { type: 'linear', factor: 2 } }), /rope_scaling .* is not supported/],
    ['gemma', (c) => ({ ...c, model_type: 'gemma' }), /model_type 'gemma' is not run/],
    ['gelu', (c) => ({ ...c, hidden_act: 'gelu' }), /hidden_act 'gelu' is not SiLU/],
    ['heads', (c) => ({ ...c, num_key_value_heads: 3 }), /not a multiple of num_key_value_heads 3/],
    ['shape', (c) => ({ ...c, intermediate_size: 100 }), /mlp\.gate_proj\.weight' has shape \[172,64\], but config\.json implies \[100,64\]/],
    ['layers', (c) => ({ ...c, num_hidden_layers: 6 }), /tensor 'model\.layers\.5\.input_layernorm\.weight' is missing/],
  ];
  for (const [name, change, message] of cases) {
    const dir = modelFolder(model('stories260k'), join(root, name), { config: change });
    const err = t.throws(() => loadLlamaWeights(dir), { instanceOf: BadInputError });
    t.regex(err!.message, message, name);
    t.true(err!.message.includes(dir), `${name}: the message names the folder`);
  }
  const big = t.throws(() => loadLlamaWeights(model('stories260k'), { maxBytes: 1000 }), { instanceOf: LineageError });
  t.regex(big!.message, /needs 1\.0 MiB as float32, above the in-memory forward pass's limit/);
});

test('log-softmax is normalized and top-k is sorted with ties to the lower id', (t) => {
  const lp = logSoftmax(new Float32Array([1, 3, 3, -2, 0.5]));
  t.true(Math.abs(lp.reduce((s, x) => s + Math.exp(x), 0) - 1) < 1e-12);
  t.deepEqual(topIndices(lp, 3), [1, 2, 0]);
  t.deepEqual(topIndices(lp, 10), [1, 2, 0, 4, 3]);
  t.deepEqual(topIndices(new Float64Array([5, 5, 5]), 2), [0, 1]);
});
