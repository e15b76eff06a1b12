/**
 * Our forward pass against llama.cpp (node-llama-cpp 3.21.1, CPU, float32 KV cache) on the same
 * weights: each real model of ../shared/data exported to GGUF by writeGguf, the next-token
 * log-probabilities of random token probes compared; and GGUF sides in compareBehaviour and
 * `lineage probe`.
 */
import test from 'ava';
import { join } from 'node:path';
import { compareBehaviour, lastLogits, LlamaCppModel, loadLlamaWeights, LocalLlamaModel, writeGguf } from '../core/src/behaviour/index.ts';
import { logSoftmax } from '../core/src/behaviour/logits.ts';
import { Random } from '../core/src/synth/random.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { lineage } from './behaviour-fixtures.ts';
import { SKIP_REASON, sharedDataPresent, sharedPath } from './helpers/shared-data.ts';
import { tempDir } from './helpers/tmpdir.ts';

let llamaCppReason: string | null = null;
try {
  await import('node-llama-cpp');
} catch (err) {
  llamaCppReason = `node-llama-cpp cannot be loaded (${(err as Error).message}): llama.cpp tests skipped`;
}
const ready = sharedDataPresent && llamaCppReason === null;
const real = ready ? test.serial : test.skip;
if (!ready) test('llama.cpp tests', (t) => t.log(llamaCppReason ?? SKIP_REASON));
const model = (name: string) => sharedPath(`models/${name}`);

/** A synthetic model with what the real ones lack: a separate lm_head and a vocabulary above 4096. */
const untied = () => {
  const out = join(tempDir(), 'untied-5000');
  synthesize('base', { out, seed: 3, shape: { layers: 2, hidden: 64, intermediate: 128, heads: 4, kvHeads: 2, vocab: 5000, dtype: 'F32' } });
  return out;
};

for (const name of ['stories260k', 'stories260k-bf16', 'babyllama-105', 'babyllama-361', 'untied-5000']) {
  real(`${name}: our forward pass agrees with llama.cpp on the same weights`, async (t) => {
    const folder = name === 'untied-5000' ? untied() : model(name);
    const weights = loadLlamaWeights(folder);
    t.is(weights.lmHead === weights.embed, name !== 'untied-5000');
    const file = join(tempDir(), `${name}.gguf`);
    writeGguf(file, weights, name);
    const cpp = await LlamaCppModel.open(file);
    t.teardown(() => cpp.close());
    t.is(cpp.vocabSize, weights.config.vocabSize);
    t.false(cpp.acceptsText, 'an exported GGUF has a placeholder vocabulary');
    const random = new Random(17, name);
    let maxAbs = 0;
    let maxRel = 0;
    let argmaxSame = 0;
    const probes = 25;
    for (let p = 0; p < probes; p++) {
      const length = 2 + Math.floor(random.uniform() * 40);
      const ids = [1, ...Array.from({ length }, () => 3 + Math.floor(random.uniform() * (weights.config.vocabSize - 3)))];
      const ours = logSoftmax(lastLogits(weights, ids));
      const theirs = await cpp.logprobs(ids);
      let bestOurs = 0;
      let bestTheirs = 0;
      for (let id = 0; id < ours.length; id++) {
        if (ours[id]! > ours[bestOurs]!) bestOurs = id;
        if (theirs[id]! > theirs[bestTheirs]!) bestTheirs = id;
        // llama.cpp hands back float32 probabilities: below ~1e-30 they underflow, so compare where both are representable.
        if (ours[id]! < -60) continue;
        const d = Math.abs(ours[id]! - theirs[id]!);
        maxAbs = Math.max(maxAbs, d);
        maxRel = Math.max(maxRel, d / Math.max(1, Math.abs(ours[id]!)));
      }
      if (bestOurs === bestTheirs) argmaxSame++;
    }
    // Above 4096 ids an answer carries its top-k only.
    const [answer] = await (await LocalLlamaModel.open(folder)).next([{ kind: 'tokens', ids: [1, 5, 6] }], { topK: 5 });
    t.is(answer !== undefined && 'logprobs' in answer, weights.config.vocabSize <= 4096);
    t.log(`${name}: max |Δ log p| ${maxAbs.toExponential(2)}, max relative ${maxRel.toExponential(2)}, argmax agrees on ${argmaxSame}/${probes} probes`);
    t.true(maxRel <= 1e-3, `max relative difference ${maxRel}`);
    t.is(argmaxSame, probes);
  });
}

real('GGUF sides: stories260k in llama.cpp against its BF16 copy in our forward pass is related; the BabyLlama runs in llama.cpp are not', async (t) => {
  const dir = tempDir();
  const gguf = (name: string) => {
    const file = join(dir, `${name}.gguf`);
    writeGguf(file, loadLlamaWeights(model(name)), name);
    return file;
  };
  const stories = await LlamaCppModel.open(gguf('stories260k'));
  t.teardown(() => stories.close());
  const related = await compareBehaviour(stories, await LocalLlamaModel.open(model('stories260k-bf16')), { probes: 120, seed: 2 });
  t.log(related.reason);
  t.is(related.related, true);
  t.like(related.sources.a, { kind: 'local', format: 'gguf', runner: 'llama.cpp' });
  const a = await LlamaCppModel.open(gguf('babyllama-105'));
  const b = await LlamaCppModel.open(gguf('babyllama-361'));
  t.teardown(() => a.close().then(() => b.close()));
  const unrelated = await compareBehaviour(a, b, { probes: 120, seed: 2 });
  t.log(unrelated.reason);
  t.is(unrelated.related, false);
});

real('lineage probe takes a .gguf side', async (t) => {
  const dir = tempDir();
  const file = join(dir, 'stories260k.gguf');
  writeGguf(file, loadLlamaWeights(model('stories260k')), 'stories260k');
  const json = join(dir, 'probe.json');
  const r = await lineage(['probe', file, model('stories260k-bf16'), '--probes', '60', '--json', json]);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /A = .*stories260k\.gguf: local gguf, llama\.cpp/);
  const { behaviour } = JSON.parse(readFileSync(json, 'utf8'));
  t.is(behaviour.related, true);
  t.like(behaviour.sources.a, { format: 'gguf', runner: 'llama.cpp' });
  const broken = join(dir, 'broken.gguf');
  writeFileSync(broken, 'GGUF not really');
  const bad = await lineage(['probe', broken, model('stories260k')]);
  t.is(bad.status, 2, bad.stderr);
  t.regex(bad.stderr, /broken\.gguf: unknown GGUF version/);
  // A header that promises tensors the file does not hold is named before llama.cpp sees it.
  const truncated = join(dir, 'truncated.gguf');
  writeFileSync(truncated, readFileSync(file).subarray(0, 600_000));
  const cut = await lineage(['probe', truncated, model('stories260k')]);
  t.is(cut.status, 2, cut.stderr);
  t.regex(cut.stderr, /truncated\.gguf: tensor '.*' starts past the end of the file/);
});
