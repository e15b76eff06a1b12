/**
 * The behavioural statistics: the permutation null holds its false-positive rate on answers that
 * are independent probe by probe, the reference null's exact test, missing answers never counted
 * as agreement, and compareBehaviour on the real models of ../shared/data (the same model in F32
 * and BF16: related; independent BabyLlama runs: not related).
 */
import test from 'ava';
import { join } from 'node:path';
import { compareBehaviour, compareBehaviourOfPaths, LocalLlamaModel, type Answer, type BehaviourModel, type Prompt } from '../core/src/behaviour/index.ts';
import { permutationTest } from '../core/src/behaviour/permutation.ts';
import { candidatesOutside, jensenShannonOutside } from '../core/src/behaviour/prompt-mask.ts';
import { binomialUpperTail, mcnemar } from '../core/src/behaviour/reference-null.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { Random } from '../core/src/synth/random.ts';
import { modelFolder, tokenizer105Json } from './behaviour-fixtures.ts';
import { SKIP_REASON, sharedDataPresent, sharedPath } from './helpers/shared-data.ts';
import { tempDir } from './helpers/tmpdir.ts';

const real = sharedDataPresent ? test : test.skip;
const model = (name: string) => sharedPath(`models/${name}`);
if (!sharedDataPresent) test('real-model behaviour tests', (t) => t.log(SKIP_REASON));

test('the exact binomial tail and McNemar test', (t) => {
  t.true(Math.abs(binomialUpperTail(10, 8) - 56 / 1024) < 1e-12);
  t.is(binomialUpperTail(10, 0), 1);
  t.is(binomialUpperTail(0, 0), 1);
  t.is(binomialUpperTail(5, 6), 0);
  t.true(Math.abs(binomialUpperTail(2000, 1000) - 0.5089) < 1e-3);
  const r = mcnemar('ref', 'a', [1, 1, 1, 0, null, 1], [0, 0, 1, 1, 1, null]);
  t.like(r, { n: 4, onlyAB: 2, onlyReference: 1, agreementAB: 0.75, agreementWithReference: 0.5 });
  t.true(Math.abs(r.pValue - 4 / 8) < 1e-12);
});

test('the permutation null keeps its false-positive rate on answers independent probe by probe, and has power on related ones', (t) => {
  // 300 pairs of answer lists from a skewed distribution over 30 tokens: B's answers do not follow A's.
  const random = new Random(11, 'fpr');
  const skewed = () => Math.floor(30 * random.uniform() ** 3);
  const alpha = 0.05;
  let rejected = 0;
  const trials = 300;
  for (let trial = 0; trial < trials; trial++) {
    const n = 40;
    const a = Array.from({ length: n }, skewed);
    const b = Array.from({ length: n }, skewed);
    const r = permutationTest(n, [Array.from({ length: n }, (_, i) => i)], (i, j) => (a[i] === b[j] ? 1 : 0), { draws: 199, seed: trial, extreme: 'high', stream: 'x' });
    if (r.pValue <= alpha) rejected++;
  }
  const rate = rejected / trials;
  t.log(`false-positive rate at α = ${alpha}: ${rate.toFixed(3)} (${rejected}/${trials})`);
  // Binomial(300, 0.05) stays below 0.09 with probability > 0.999.
  t.true(rate <= 0.09, `rate ${rate}`);
  let detected = 0;
  for (let trial = 0; trial < 50; trial++) {
    const n = 40;
    const a = Array.from({ length: n }, skewed);
    const b = a.map((x) => (random.uniform() < 0.5 ? x : skewed()));
    const r = permutationTest(n, [Array.from({ length: n }, (_, i) => i)], (i, j) => (a[i] === b[j] ? 1 : 0), { draws: 199, seed: trial, extreme: 'high', stream: 'y' });
    if (r.pValue <= alpha) detected++;
  }
  t.log(`power on half-copied answers: ${detected}/50`);
  t.true(detected >= 45);
});

/** A real model some of whose answers are lost, as an endpoint loses them (empty or refused responses). */
function losing(inner: BehaviourModel, lose: (i: number) => boolean): BehaviourModel {
  return {
    label: `${inner.label} (losing answers)`,
    source: inner.source,
    vocabSize: inner.vocabSize,
    bosTokenId: inner.bosTokenId,
    specialIds: inner.specialIds,
    acceptsText: inner.acceptsText,
    async next(prompts: readonly Prompt[], options) {
      const answers = await inner.next(prompts, options);
      return answers.map((a, i): Answer => (lose(i) ? { missing: 'empty response' } : a));
    },
  };
}

real('stories260k and its BF16 copy are related, with a small p-value, and the section is reproducible', async (t) => {
  const a = await LocalLlamaModel.open(model('stories260k'));
  const b = await LocalLlamaModel.open(model('stories260k-bf16'));
  const s = await compareBehaviour(a, b, { probes: 120, seed: 3 });
  t.log(s.reason);
  t.is(s.related, true);
  t.true(s.pValue! <= 0.01);
  t.true(s.agreement! > 0.8, `agreement ${s.agreement}`);
  t.true(s.statistics.agreement!.nullMean < 0.1);
  t.true(s.jensenShannon! < 0.01);
  t.like(s.probes, { total: 120, answered: 120, missingA: 0, missingB: 0, sharedVocab: 512, textSet: null, seed: 3 });
  t.like(s.sources.a, { kind: 'local', runner: 'lineage-forward-f32', dtypes: ['F32'] });
  t.like(s.sources.b, { kind: 'local', dtypes: ['BF16'] });
  const again = await compareBehaviour(a, b, { probes: 120, seed: 3 });
  t.deepEqual(JSON.parse(JSON.stringify(again)), JSON.parse(JSON.stringify(s)));
});

real('babyllama-105 and babyllama-361 (independent runs, different tokenizers) are not related', async (t) => {
  const a = await LocalLlamaModel.open(model('babyllama-105'));
  const b = await LocalLlamaModel.open(model('babyllama-361'));
  const s = await compareBehaviour(a, b, { probes: 100, seed: 1 });
  t.log(s.reason);
  t.is(s.related, false);
  t.true(s.pValue! > 0.01);
  t.is(s.probes.sharedVocab, 105);
  t.is(s.probes.answered, 100);
});

real('an empty answer is missing, never agreement: lost answers shrink the probe count and too few leave the question open', async (t) => {
  const a = await LocalLlamaModel.open(model('stories260k'));
  const b = await LocalLlamaModel.open(model('stories260k'));
  const some = await compareBehaviour(a, losing(b, (i) => i % 3 === 0), { probes: 60, seed: 2 });
  t.like(some.probes, { total: 60, answered: 40, missingA: 0, missingB: 20 });
  t.is(some.agreement, 1);
  t.is(some.related, true);
  t.deepEqual(some.probes.missingExamples[0], { probe: 'tokens:2:0', side: 'b', reason: 'empty response' });
  const all = await compareBehaviour(a, losing(b, () => true), { probes: 60, seed: 2 });
  t.is(all.related, null);
  t.is(all.agreement, null);
  t.is(all.pValue, null);
  t.regex(all.reason, /only 0 of 60 probes were answered by both sides/);
});

real('a derivative of stories260k is related to it; with an unrelated reference the reference test is reported and must pass too', async (t) => {
  const root = tempDir();
  synthesize('derivative', { like: model('stories260k'), out: join(root, 'derived'), drift: 0.05, seed: 5 });
  synthesize('independent', { like: model('stories260k'), out: join(root, 'random'), seed: 9 });
  const base = await LocalLlamaModel.open(model('stories260k'));
  const derived = await LocalLlamaModel.open(join(root, 'derived'));
  const reference = await LocalLlamaModel.open(join(root, 'random'), { label: 'random-stories-shape' });
  const s = await compareBehaviour(base, derived, { probes: 100, seed: 4, references: [reference] });
  t.log(s.reason);
  t.is(s.related, true);
  t.is(s.references.length, 2);
  for (const r of s.references) {
    t.is(r.reference, 'random-stories-shape');
    t.true(r.agreementAB > r.agreementWithReference);
    t.true(r.pValue <= 0.01);
  }
  t.is(s.pValue, Math.max(s.statistics.agreement!.pValue, ...s.references.map((r) => r.pValue)));
  // The untrained model against the base: not related, though both copy tokens of the probe
  // (raw agreement, tokens of the probe included, called this pair related in 3 of 10 runs).
  for (const seed of [1, 2, 3]) {
    const u = await compareBehaviour(base, reference, { probes: 80, seed });
    t.is(u.related, false, `seed ${seed}: ${u.reason}`);
  }
});

real('text probes run when both sides have a tokenizer; nothing to probe leaves related null', async (t) => {
  const root = tempDir();
  const files = { 'tokenizer.json': tokenizer105Json() };
  const a = await LocalLlamaModel.open(modelFolder(model('babyllama-105'), join(root, 'a'), { files }));
  synthesize('derivative', { like: model('babyllama-105'), out: join(root, 'b'), drift: 0.02, seed: 6 });
  const b = await LocalLlamaModel.open(modelFolder(join(root, 'b'), join(root, 'b-tok'), { files }));
  const s = await compareBehaviour(a, b, { probes: 0, seed: 1 });
  t.log(s.reason);
  t.is(s.probes.textSet, 'lineage-prompts-v1');
  t.is(s.probes.sets.length, 1);
  t.like(s.probes.sets[0], { set: 'text', total: 40, matchedBy: 'bytes' });
  t.is(s.related, true);
  const none = await compareBehaviour(await LocalLlamaModel.open(model('babyllama-105')), await LocalLlamaModel.open(model('babyllama-361')), { probes: 0 });
  t.is(none.related, null);
  t.regex(none.reason, /no probe both sides can answer/);
  t.true(none.notes.some((n) => /text probes skipped: .* cannot take text/.test(n)));
});

real('compareBehaviourOfPaths: the section when both sides run, {available: false} with the reason when one cannot', async (t) => {
  const s = await compareBehaviourOfPaths(model('stories260k'), model('stories260k-bf16'), { probes: 40, seed: 1 });
  t.true('related' in s && s.related === true);
  const gemma = modelFolder(model('stories260k'), join(tempDir(), 'gemma'), { config: (c) => ({ ...c, model_type: 'gemma' }) });
  const none = await compareBehaviourOfPaths(model('stories260k'), gemma, { probes: 40 });
  t.deepEqual(Object.keys(none), ['available', 'reason']);
  t.regex((none as { reason: string }).reason, /gemma\/config\.json: model_type 'gemma' is not run by the built-in forward pass/);
  const big = await compareBehaviourOfPaths(model('stories260k'), model('babyllama-105'), { maxBytes: 2_000_000 });
  t.regex((big as { reason: string }).reason, /babyllama-105: the model needs 3\.6 MiB as float32, above the in-memory forward pass's limit/);
});

test('tokens of the probes are left out of token-probe comparisons: candidates and divergence outside a set', (t) => {
  const logprobs = Float64Array.from([0.5, 0.3, 0.15, 0.05].map(Math.log));
  const answer = { greedy: { id: 0, logprob: logprobs[0]! }, top: [0, 1, 2].map((id) => ({ id, logprob: logprobs[id]! })), logprobs };
  t.deepEqual(candidatesOutside(answer, new Set([0]), 2), [1, 2]);
  t.deepEqual(candidatesOutside(answer, new Set([1, 2]), 5), [0, 3]);
  // Without the full distribution, the listed candidates are filtered.
  t.deepEqual(candidatesOutside({ greedy: answer.greedy, top: answer.top }, new Set([0, 2]), 5), [1]);
  const other = Float64Array.from([0.1, 0.3, 0.15, 0.45].map(Math.log));
  t.true(jensenShannonOutside(logprobs, other, 4, new Set()) > 0.05);
  // Left out where they differ, the two are the same distribution up to scale.
  t.true(Math.abs(jensenShannonOutside(logprobs, other, 4, new Set([0, 3]))) < 1e-12);
});
