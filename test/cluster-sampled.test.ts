/** Sampled mode on the cluster: sample plans and per-block moments travel, and the report is the local one. */
import { join } from 'node:path';
import { compareModels } from '../core/src/compare/model-report.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { startCoordinator } from '../coordinator/src/index.ts';
import { startWorker } from '../worker/src/index.ts';
import { JobState } from '../proto/lineage/v1/lineage.ts';
import { COORDINATOR, Rpc, TOKEN, WORKER } from './helpers/cluster.ts';
import { startNatsServer } from './helpers/nats-server.ts';
import { NATS_MISSING, unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';

unless(NATS_MISSING)('a sampled job on 2 workers gives the local sampled report, intervals included', async (t) => {
  t.timeout(90_000);
  const root = tempDir();
  const base = join(root, 'base');
  const derived = join(root, 'derived');
  synthesize('base', { out: base, shape: { layers: 2, hidden: 512, intermediate: 4096, vocab: 16384 } });
  synthesize('derivative', { out: derived, like: base, drift: 0.2 });

  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root] });
  t.teardown(() => coordinator.close());
  const workers = await Promise.all([1, 2].map(() => startWorker({ ...WORKER, nats: nats.url, threads: 1 })));
  t.teardown(() => Promise.all(workers.map((w) => w.stop())));
  const rpc = new Rpc(coordinator.address);
  t.teardown(() => rpc.close());

  await rpc.submit({ jobId: 'sampled', modelA: base, modelB: derived, options: { sample: 0.1, seed: 7, targetTaskBytes: 2_000_000 } });
  const last = (await rpc.watch('sampled')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE);
  const report = await rpc.report('sampled') as Awaited<ReturnType<typeof compareModels>>;
  const local = await compareModels(base, derived, { sample: 0.1, seed: 7, threads: 1, targetTaskBytes: 2_000_000 });
  t.is(report.weights.mode, 'sampled');
  t.true(report.weights.tensors.some((x) => x.sampled !== null));
  const { run: _a, ...cluster } = report;
  const { run: _b, ...inProcess } = local;
  t.deepEqual(cluster, inProcess);
});
