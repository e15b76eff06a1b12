/**
 * The weight comparison end to end, in process: open both checkpoints, match tensors, plan,
 * execute, and build the `weights` section.
 */
import { availableParallelism } from 'node:os';
import { openCheckpoint, type Checkpoint } from '../checkpoint/folder.ts';
import { executePlan } from '../exec/local-executor.ts';
import { DEFAULT_WINDOW_ELEMENTS } from '../exec/run-task.ts';
import type { HashAlgorithm } from '../hash/content-hash.ts';
import { resolveKernel, type KernelChoice } from '../kernels/select.ts';
import { planTasks } from '../plan/plan.ts';
import { buildWeightsSection, type WeightsSection } from '../report/weights.ts';
import { matchTensors } from '../roles/match.ts';

export interface WeightsOptions {
  threads?: number;
  kernel?: KernelChoice;
  reader?: 'pread' | 'mmap';
  hash?: HashAlgorithm | 'none';
  windowElements?: number;
  /** Overlap reading with computing (default: when there are more cores than threads). */
  overlapReads?: boolean;
  targetTaskBytes?: number;
  gpuMode?: string;
  /** Called with the total bytes to read, then with the bytes of each finished item. */
  onStart?: (totalBytes: number, tasks: number) => void;
  onProgress?: (bytes: number) => void;
}

export async function compareCheckpoints(a: Checkpoint, b: Checkpoint, options: WeightsOptions = {}): Promise<WeightsSection> {
  const matched = matchTensors(a.tensors, b.tensors);
  const plan = planTasks(matched, { targetTaskBytes: options.targetTaskBytes });
  const kernel = await resolveKernel(options.kernel ?? 'auto');
  const hash = options.hash ?? 'xxh3-128';
  options.onStart?.(plan.totalBytes, plan.tasks.length);
  const results = await executePlan(plan, {
    threads: options.threads ?? 1,
    kernel,
    reader: options.reader ?? 'pread',
    hash,
    windowElements: options.windowElements ?? DEFAULT_WINDOW_ELEMENTS,
    overlapReads: options.overlapReads ?? (options.threads ?? 1) < availableParallelism(),
    gpuMode: options.gpuMode,
    onProgress: options.onProgress,
  });
  return buildWeightsSection(matched, results, { kernel, hashAlgorithm: hash === 'none' ? null : hash });
}

export async function compareWeights(pathA: string, pathB: string, options: WeightsOptions = {}): Promise<WeightsSection> {
  return compareCheckpoints(openCheckpoint(pathA), openCheckpoint(pathB), options);
}
