/**
 * Sampled experts on the cluster: the plan leaves out the experts not drawn, workers read the
 * drawn blocks, and the coordinator's report (experts estimated through their strata included)
 * is the local one.
 */
import { join } from 'node:path';
import { compareModels } from '../core/src/compare/model-report.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { JobState } from '../proto/lineage/v1/lineage.ts';
import { startWorker } from '../worker/src/index.ts';
import { WORKER } from './helpers/cluster.ts';
import { NATS_MISSING, unless } from './helpers/skip.ts';
import { testCluster } from './helpers/test-cluster.ts';
import { tempDir } from './helpers/tmpdir.ts';

unless(NATS_MISSING)('a sampled MoE job on 2 workers gives the local report: experts estimated through their strata, intervals included, controls sampled alike', async (t) => {
  t.timeout(120_000);
  const root = tempDir();
  const base = join(root, 'base');
  const derived = join(root, 'derived');
  synthesize('base', { out: base, shape: { layout: 'moe', layers: 2, experts: 128, expertsPerToken: 8, hidden: 128, intermediate: 256, moeIntermediate: 32, heads: 4, kvHeads: 2, vocab: 512 } });
  synthesize('derivative', { out: derived, like: base, drift: 0.2 });

  const { nats, rpc } = await testCluster(t, root);
  const workers = await Promise.all([1, 2].map(() => startWorker({ ...WORKER, nats: nats.url, threads: 1 })));
  t.teardown(() => Promise.all(workers.map((w) => w.stop())));

  await rpc.submit({ jobId: 'sampled-moe', modelA: base, modelB: derived, options: { sample: 0.1, seed: 3, targetTaskBytes: 200_000 } });
  const last = (await rpc.watch('sampled-moe')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE, JSON.stringify(last));
  const report = await rpc.report('sampled-moe') as Awaited<ReturnType<typeof compareModels>>;
  const local = await compareModels(base, derived, { sample: 0.1, seed: 3, threads: 1, targetTaskBytes: 200_000 });
  t.true(report.weights.summary.estimated > 0);
  t.is(report.weights.expertStrata.length, 2 * 3);
  t.true(report.weights.expertStrata.every((s) => s.ci.cosine !== null));
  // The coordinator plans the controls at the job's fraction too (expert weights read by rows).
  t.is(report.controls?.sampled?.fraction, 0.1);
  t.true(report.controls!.experts.every((l) => l.experts!.sampled));
  const { run: _a, ...cluster } = report;
  const { run: _b, ...inProcess } = local;
  t.deepEqual(cluster, inProcess);
});
