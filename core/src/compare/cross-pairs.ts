/**
 * Comparisons beyond the matched pairs: any two tensors of equal element count (layer i of A with
 * layer j of B, layer i of A with layer j of A, expert e of A with expert f of B, a row range
 * with another). The controls (baselines, layer alignment, expert matching) are built on this;
 * it runs on the same executor and kernels as the main comparison, sampled when asked so that
 * an L×L matrix stays affordable on a 100B model.
 */
import { availableParallelism } from 'node:os';
import { executePlan } from '../exec/local-executor.ts';
import { remoteReadSettings } from '../io/blocking.ts';
import { DEFAULT_WINDOW_ELEMENTS } from '../exec/run-task.ts';
import { cpuKernel, resolveKernel, type KernelChoice } from '../kernels/select.ts';
import type { Plan, Task, TensorRef } from '../plan/plan.ts';
import { planSample } from '../sample/blocks.ts';
import type { Moments } from '../stats/moments.ts';
import { elementCount } from '../checkpoint/dtype.ts';

export interface CrossPair {
  a: TensorRef;
  b: TensorRef;
  /** FP8 block scales of a and b (whole tensors only: a slice's first element would be off). */
  scalesA?: TensorRef | null;
  scalesB?: TensorRef | null;
}

/**
 * The controls' pairs run on the CPU kernel, whatever the machine: they are small (sampled
 * blocks, a few pairs per task), and their figures then do not depend on which worker, with a GPU
 * or without, took the task. They used to resolve 'auto' on their own, which on an H200 ran them
 * through gpu.js even under `--kernel wasm-simd` and aborted the process (README, "Kernels").
 */
export const CROSS_PAIRS_KERNEL: KernelChoice = cpuKernel();

export interface CrossOptions {
  threads?: number;
  kernel?: KernelChoice;
  /** Read this fraction of each pair's row blocks (tensors too small to sample are read whole). */
  sample?: number;
  seed?: number;
  /** Pairs per task. */
  pairsPerTask?: number;
}

/** Moments of each pair, in the order given; null where a pair failed (with the reason). */
export async function compareCrossPairs(pairs: CrossPair[], options: CrossOptions = {}): Promise<{ moments: (Moments | null)[]; errors: (string | null)[] }> {
  for (const p of pairs) {
    if (elementCount(p.a.shape) !== elementCount(p.b.shape)) throw new Error(`compareCrossPairs: ${JSON.stringify(p.a.shape)} vs ${JSON.stringify(p.b.shape)}`);
  }
  const perTask = options.pairsPerTask ?? 16;
  const tasks: Task[] = [];
  for (let i = 0; i < pairs.length; i += perTask) {
    const items = pairs.slice(i, i + perTask).map((p, k) => ({
      index: i + k,
      a: p.a,
      b: p.b,
      scalesA: p.scalesA ?? null,
      scalesB: p.scalesB ?? null,
      compare: true,
      // The same blocks of both tensors: a row of layer i is compared with the same row of layer j.
      sample: options.sample !== undefined && options.sample < 1 ? planSample(p.a.shape, options.sample, options.seed ?? 1, `cross:${i + k}`) : null,
    }));
    tasks.push({ id: tasks.length, label: `cross pairs ${i}-${i + items.length - 1}`, bytes: 0, items });
  }
  const plan: Plan = { tasks, totalBytes: 0 };
  const threads = options.threads ?? 1;
  // Inside a control task on remote models: their files over HTTP, as the task's other reads.
  const remote = remoteReadSettings();
  const results = await executePlan(plan, {
    threads,
    kernel: await resolveKernel(options.kernel ?? CROSS_PAIRS_KERNEL),
    reader: 'pread',
    hash: 'none',
    windowElements: DEFAULT_WINDOW_ELEMENTS,
    overlapReads: threads < availableParallelism(),
    ...(remote ? { remote } : {}),
  });
  return { moments: results.map((r) => r?.moments ?? null), errors: results.map((r) => r?.error ?? null) };
}
