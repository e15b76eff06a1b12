/**
 * Cluster figures for `npm run bench`: one job on 2 worker processes against local mode on the
 * same pair (the overhead of the cluster path), and how long planning and dispatch take for the
 * full Solar-Open-100B layout (18,963 tensors in 42 sparse shards: no disk is used).
 */
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareModels, prepareComparison } from '../core/src/compare/model-report.ts';
import { startCoordinator } from '../coordinator/src/index.ts';
import { connect } from '../client/src/sdk/index.ts';
import { NATS_SERVER_BINARY, startNatsServer } from '../test/helpers/nats-server.ts';

const BIN = fileURLToPath(new URL('../client/bin/lineage.js', import.meta.url));
const TOKEN = 'bench-token';
/** Tasks and results are signed as in any deployment, so the bench measures that cost too. */
const CLUSTER_KEY = randomBytes(32).toString('hex');

async function seconds<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await f();
  return [out, (performance.now() - t0) / 1000];
}

async function withCluster<T>(roots: string[], workers: number, body: (address: string) => Promise<T>): Promise<T> {
  const nats = await startNatsServer();
  const coordinator = await startCoordinator({ nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: roots, clusterKey: CLUSTER_KEY });
  const procs: ChildProcess[] = [];
  try {
    for (let i = 0; i < workers; i++) {
      const rootArgs = roots.flatMap((r) => ['--model-root', r]);
      procs.push(spawn(process.execPath, [BIN, 'worker', '--nats', nats.url, '--threads', '1', ...rootArgs], { stdio: 'ignore', env: { ...process.env, LINEAGE_CLUSTER_KEY: CLUSTER_KEY } }));
    }
    // Workers announce themselves within a second or two; give them time to start pulling.
    await new Promise((r) => setTimeout(r, workers ? 3000 : 0));
    return await body(coordinator.address);
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await coordinator.close();
    await nats.stop();
  }
}

export async function benchClusterOverhead(dirA: string, dirB: string, root: string): Promise<void> {
  if (!NATS_SERVER_BINARY) {
    console.log('cluster: nats-server not installed, skipped');
    return;
  }
  const [, local] = await seconds(() => compareModels(dirA, dirB, { threads: 2 }));
  await withCluster([root], 2, async (address) => {
    const client = await connect({ address, token: TOKEN });
    try {
      const [, cluster] = await seconds(async () => {
        const { job } = await client.submit({ modelA: dirA, modelB: dirB });
        return client.result(job.jobId);
      });
      console.log(`${'cluster job, 2 worker processes × 1 thread'.padEnd(44)} ${cluster.toFixed(2).padStart(6)} s vs local (2 threads) ${local.toFixed(2)} s: ${(100 * (cluster / local - 1)).toFixed(1)}% overhead (target ≤ 15%)`);
    } finally {
      await client.close();
    }
  });
}

/** Sparse shards holding the Solar-Open-100B layout (headers real, data holes). */
function sparseSolar(dir: string): void {
  if (existsSync(join(dir, 'model.safetensors.index.json'))) return;
  mkdirSync(dir, { recursive: true });
  const layoutFile = fileURLToPath(new URL('../../shared/data/layouts/solar-open-100b.json', import.meta.url));
  const layout = JSON.parse(readFileSync(layoutFile, 'utf8')) as { tensors: { name: string; shape: number[]; dtype: string; shard: string }[] };
  const bytes: Record<string, number> = { BF16: 2, F32: 4, F16: 2 };
  const shards = new Map<string, typeof layout.tensors>();
  for (const t of layout.tensors) shards.set(t.shard, [...(shards.get(t.shard) ?? []), t]);
  const weightMap: Record<string, string> = {};
  for (const [shard, tensors] of shards) {
    const header: Record<string, unknown> = {};
    let offset = 0;
    for (const t of tensors) {
      const size = t.shape.reduce((x, y) => x * y, 1) * bytes[t.dtype]!;
      header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
      offset += size;
      weightMap[t.name] = shard;
    }
    const json = Buffer.from(JSON.stringify(header));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    const fd = openSync(join(dir, shard), 'w');
    writeSync(fd, Buffer.concat([length, json]));
    ftruncateSync(fd, 8 + json.length + offset);
    closeSync(fd);
  }
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'solar_open', hidden_size: 4096, num_hidden_layers: 48, vocab_size: 196608, n_routed_experts: 128, num_experts_per_tok: 8 }));
}

/** The sparse Solar-Open-100B folder under `root` (made when missing), or null (saying so) when ../shared/data is absent. */
export function solarFolder(root: string, what: string): string | null {
  const layout = fileURLToPath(new URL('../../shared/data/layouts/solar-open-100b.json', import.meta.url));
  if (!existsSync(layout)) {
    console.log(`Solar-Open-100B ${what}: ../shared/data is absent, skipped`);
    return null;
  }
  const dir = join(root, 'solar-open-100b-sparse');
  sparseSolar(dir);
  return dir;
}

export async function benchSolarPlanning(root: string): Promise<void> {
  const dir = solarFolder(root, 'planning');
  if (!dir) return;
  const [prepared, plan] = await seconds(() => prepareComparison(dir, dir));
  console.log(`${'Solar-Open-100B layout: open + match + plan'.padEnd(44)} ${plan.toFixed(2).padStart(6)} s (${prepared.matched.length} tensors, ${prepared.plan.tasks.length} tasks, ${(prepared.plan.totalBytes / 1e9).toFixed(1)} GB)`);
  if (!NATS_SERVER_BINARY) return;
  await withCluster([root], 0, async (address) => {
    const client = await connect({ address, token: TOKEN });
    try {
      const [{ job }, submit] = await seconds(() => client.submit({ modelA: dir, modelB: dir }));
      console.log(`${'Solar-Open-100B: submit (plan + dispatch)'.padEnd(44)} ${submit.toFixed(2).padStart(6)} s (${job.tasksTotal} tasks on JetStream; dispatch ≈ ${(submit - plan).toFixed(2)} s)`);
      await client.cancel(job.jobId);
    } finally {
      await client.close();
    }
  });
}
