/**
 * The weight comparison end to end, in process: open both checkpoints, match tensors, plan,
 * execute, and build the `weights` section.
 */
import { availableParallelism } from 'node:os';
import { openCheckpoint, type Checkpoint } from '../checkpoint/folder.ts';
import { executePlan } from '../exec/local-executor.ts';
import type { HttpReadOptions } from '../io/http-client.ts';
import { DEFAULT_WINDOW_ELEMENTS } from '../exec/run-task.ts';
import type { HashAlgorithm } from '../hash/content-hash.ts';
import { resolveKernel, type KernelChoice } from '../kernels/select.ts';
import type { ItemResult } from '../exec/run-task.ts';
import { UsageError } from '../errors.ts';
import { planTasksSteps, type Plan } from '../plan/plan.ts';
import { runSteps, type Steps } from '../steps.ts';
import { buildWeightsSection, type WeightsMeta, type WeightsSection } from '../report/weights.ts';
import { matchTensors, type MatchedTensor } from '../roles/match.ts';
import type { SamplePlan } from '../sample/blocks.ts';
import { refineToHalfwidth } from '../sample/refine.ts';

export interface WeightsOptions {
  /** HTTP settings for remote checkpoints (hub token, limits); see io/http-client.ts. */
  remote?: HttpReadOptions;
  threads?: number;
  kernel?: KernelChoice;
  reader?: 'pread' | 'mmap';
  hash?: HashAlgorithm | 'none';
  windowElements?: number;
  /** Sampled mode: read this fraction of each large tensor (row blocks, without replacement). */
  sample?: number;
  /** Seed of the block draw (default 1). */
  seed?: number;
  /** Confidence of the intervals (default 0.95). */
  confidence?: number;
  /** Keep sampling until every interval is narrower than this (or the tensor is read whole). */
  targetHalfwidth?: number;
  /** Overlap reading with computing (default: when there are more cores than threads). */
  overlapReads?: boolean;
  targetTaskBytes?: number;
  gpuMode?: string;
  /** Called with the total bytes to read, then with the bytes of each finished item. */
  onStart?: (totalBytes: number, tasks: number) => void;
  onProgress?: (bytes: number) => void;
}

/** The plan of a comparison, sampled when asked. */
export function planComparison(matched: MatchedTensor[], options: Pick<WeightsOptions, 'targetTaskBytes' | 'sample' | 'seed'>): Plan {
  return runSteps(planComparisonSteps(matched, options));
}

/** The same, in steps (a coordinator serves its event loop between them). */
export function planComparisonSteps(matched: MatchedTensor[], options: Pick<WeightsOptions, 'targetTaskBytes' | 'sample' | 'seed'>): Steps<Plan> {
  if (options.sample !== undefined && !(options.sample > 0 && options.sample <= 1)) throw new UsageError(`--sample must be in (0, 1], got ${options.sample}`);
  return planTasksSteps(matched, {
    targetTaskBytes: options.targetTaskBytes,
    sample: options.sample !== undefined && options.sample < 1 ? { fraction: options.sample, seed: options.seed ?? 1 } : undefined,
  });
}

/** Runs a plan on this machine's threads (refining samples to a target half-width when asked). */
export async function executeLocally(matched: MatchedTensor[], plan: Plan, options: WeightsOptions): Promise<{ results: ItemResult[]; meta: WeightsMeta }> {
  const kernel = await resolveKernel(options.kernel ?? 'auto');
  const hash = options.hash ?? 'xxh3-128';
  const threads = options.threads ?? 1;
  const confidence = options.confidence ?? 0.95;
  const run = (p: Plan) => executePlan(p, {
    threads,
    kernel,
    reader: options.reader ?? 'pread',
    hash,
    windowElements: options.windowElements ?? DEFAULT_WINDOW_ELEMENTS,
    overlapReads: options.overlapReads ?? threads < availableParallelism(),
    gpuMode: options.gpuMode,
    remote: options.remote,
    onProgress: options.onProgress,
  });
  options.onStart?.(plan.totalBytes, plan.tasks.length);
  let results = await run(plan);
  const sampled = options.sample !== undefined && options.sample < 1;
  if (sampled && options.targetHalfwidth !== undefined) {
    results = await refineToHalfwidth(plan, results, { halfwidth: options.targetHalfwidth, confidence, seed: options.seed ?? 1, names: matched.map((m) => m.name) }, run);
  }
  const samples: (SamplePlan | null)[] = new Array(matched.length).fill(null);
  for (const task of plan.tasks) for (const item of task.items) samples[item.index] = item.sample;
  return {
    results,
    meta: {
      kernel,
      hashAlgorithm: hash === 'none' ? null : hash,
      samples,
      confidence,
      sampling: sampled ? { fraction: options.sample!, confidence, seed: options.seed ?? 1, targetHalfwidth: options.targetHalfwidth ?? null } : null,
    },
  };
}

export async function compareCheckpoints(a: Checkpoint, b: Checkpoint, options: WeightsOptions = {}): Promise<WeightsSection> {
  const matched = matchTensors(a.tensors, b.tensors);
  const { results, meta } = await executeLocally(matched, planComparison(matched, options), options);
  return buildWeightsSection(matched, results, meta);
}

export async function compareWeights(pathA: string, pathB: string, options: WeightsOptions = {}): Promise<WeightsSection> {
  return compareCheckpoints(openCheckpoint(pathA), openCheckpoint(pathB), options);
}
