/**
 * `--insecure`: a cluster without a cluster key runs (nothing signed, nothing checked, and it
 * says so), and what it stored is not trusted later by a coordinator that has a key: its job is
 * listed as refused (unsigned), its report not served.
 */
import test from 'ava';
import { status } from '@grpc/grpc-js';
import { join } from 'node:path';
import { synthesize } from '../core/src/synth/synth.ts';
import { startCoordinator } from '../coordinator/src/index.ts';
import { startWorker } from '../worker/src/index.ts';
import { JobState } from '../proto/lineage/v1/lineage.ts';
import { codeOf, COORDINATOR, Rpc, TOKEN } from './helpers/cluster.ts';
import { startNatsServer } from './helpers/nats-server.ts';
import { NATS_MISSING, unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';

unless(NATS_MISSING, test.serial)('an --insecure cluster runs, says so, and its records are not trusted by a keyed coordinator', async (t) => {
  t.timeout(90_000);
  const root = tempDir();
  const base = join(root, 'base');
  synthesize('base', { out: base, shape: { layers: 1 } });
  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const logs: string[] = [];
  const saved = process.env.LINEAGE_CLUSTER_KEY;
  delete process.env.LINEAGE_CLUSTER_KEY;
  t.teardown(() => { if (saved !== undefined) process.env.LINEAGE_CLUSTER_KEY = saved; });
  await t.throwsAsync(startWorker({ nats: nats.url, modelRoots: [root] }), { message: /needs a cluster key/ });
  const coordinator = await startCoordinator({ nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root], insecure: true, log: (l) => logs.push(l) });
  t.teardown(() => coordinator.close());
  const worker = await startWorker({ nats: nats.url, threads: 1, modelRoots: [root], insecure: true, log: (l) => logs.push(l) });
  t.teardown(() => worker.stop());
  t.true(logs.filter((l) => /^WARNING: no cluster key \(--insecure\)/.test(l)).length === 2, logs.join('\n'));
  const rpc = new Rpc(coordinator.address);
  t.teardown(() => rpc.close());
  await rpc.submit({ jobId: 'lab', modelA: base, modelB: base });
  t.is((await rpc.watch('lab')).at(-1)!.state, JobState.JOB_STATE_DONE);
  t.truthy(await rpc.report('lab'));
  await coordinator.close();

  const keyed = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root] });
  t.teardown(() => keyed.close());
  const rpc2 = new Rpc(keyed.address);
  t.teardown(() => rpc2.close());
  const [listed] = await rpc2.list();
  t.like(listed, { jobId: 'lab', state: JobState.JOB_STATE_FAILED });
  t.regex(listed!.error, /rejected \(unsigned\).*written without a cluster key/);
  t.is((await codeOf(rpc2.report('lab'))).code, status.DATA_LOSS);
});
