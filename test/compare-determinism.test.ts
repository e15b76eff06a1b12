/** Reports are bit-identical whatever the number of threads (partial results merge by index, not arrival). */
import test from 'ava';
import { join } from 'node:path';
import { compareWeights } from '../core/src/compare/weights.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { tempDir } from './helpers/tmpdir.ts';

test('MoE derivative: 1, 2 and 3 threads, small and large tasks, give identical weights sections', async (t) => {
  const root = tempDir();
  synthesize('base', { out: join(root, 'base'), shape: { layout: 'moe', layers: 3, experts: 6 }, shardBytes: 2_000_000 });
  synthesize('derivative', { out: join(root, 'derived'), like: join(root, 'base'), drift: 0.02 });
  const runs = [];
  for (const [threads, targetTaskBytes] of [[1, undefined], [2, 100_000], [3, 1_000_000]] as const) {
    runs.push(await compareWeights(join(root, 'base'), join(root, 'derived'), { threads, targetTaskBytes }));
  }
  t.is(runs[0]!.summary.compared, 3 + 3 * (4 + 2 + 1 + 6 * 3 + 3 + 1));
  t.deepEqual(JSON.stringify(runs[1]), JSON.stringify(runs[0]));
  t.deepEqual(JSON.stringify(runs[2]), JSON.stringify(runs[0]));
  const experts = runs[0]!.tensors.filter((x) => x.group === 'routed_expert');
  t.is(experts.length, 3 * 6 * 3);
  t.true(experts.every((x) => x.cosine! > 0.999 && x.cosine! < 1), 'a 2% drift: related, not identical');
  t.true(runs[0]!.tensors.some((x) => x.group === 'router') && runs[0]!.tensors.some((x) => x.group === 'shared_expert'));
});
