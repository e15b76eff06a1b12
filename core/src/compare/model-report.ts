/**
 * The whole report of `lineage compare`: architecture, tokenizer and weights of two model
 * folders. Field names are a contract (DESIGN.md): only ever add to them.
 */
import { createRequire } from 'node:module';
import { openCheckpoint, type Checkpoint } from '../checkpoint/folder.ts';
import { isBadInput } from '../errors.ts';
import { analyzeArchitecture, countParamsFromTensors, loadCheckpointIndex } from '../arch/index.ts';
import { compareTokenizers, loadTokenizer } from '../tokenizer/index.ts';
import type { ItemResult } from '../exec/run-task.ts';
import type { Plan } from '../plan/plan.ts';
import { buildWeightsSection, type WeightsMeta, type WeightsSection } from '../report/weights.ts';
import { matchTensors, type MatchedTensor } from '../roles/match.ts';
import { executeLocally, planComparison, type WeightsOptions } from './weights.ts';
import { judgeWeights, type Verdict } from '../verdict/verdict.ts';

export const SCHEMA_VERSION = 1;

export interface ModelSummary {
  path: string;
  shards: number;
  tensors: number;
  bytes: number;
  /** Parameters counted from the tensor shapes (FP8 scales excluded). */
  paramsFromTensors: number;
}

export interface ComparisonReport {
  schemaVersion: number;
  tool: { name: 'lineage'; version: string };
  models: { a: ModelSummary; b: ModelSummary };
  architecture: unknown;
  tokenizer: unknown;
  weights: WeightsSection;
  verdict: Verdict;
  /** How this run went; the only part that differs between runs of the same comparison. */
  run: { threads: number; reader: string; startedAt: string; durationSeconds: number };
}

const version = (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;

/** A broken tokenizer file costs the tokenizer section, not the weight comparison: it says why. */
async function tokenizerSection(a: Checkpoint, b: Checkpoint, pathA: string, pathB: string, texts?: string[]): Promise<unknown> {
  try {
    const [tokA, tokB] = [await loadTokenizer(a.root), await loadTokenizer(b.root)];
    return compareTokenizers(tokA, tokB, {
      texts,
      labelA: pathA,
      labelB: pathB,
      configVocabA: typeof a.config?.vocab_size === 'number' ? a.config.vocab_size : undefined,
      configVocabB: typeof b.config?.vocab_size === 'number' ? b.config.vocab_size : undefined,
    });
  } catch (err) {
    if (!isBadInput(err)) throw err;
    return { available: false, reason: err.message };
  }
}

function summarize(ck: Checkpoint, path: string): ModelSummary {
  return {
    path,
    shards: ck.shards.length,
    tensors: ck.tensors.length,
    bytes: ck.totalBytes,
    paramsFromTensors: countParamsFromTensors(ck.tensors).total,
  };
}

/** Everything about a comparison that precedes reading tensor data: any executor can run its plan. */
export interface PreparedComparison {
  pathA: string;
  pathB: string;
  a: Checkpoint;
  b: Checkpoint;
  matched: MatchedTensor[];
  plan: Plan;
  architecture: unknown;
  tokenizer: unknown;
}

export async function prepareComparison(
  pathA: string, pathB: string, options: { targetTaskBytes?: number; sample?: number; seed?: number; texts?: string[] } = {},
): Promise<PreparedComparison> {
  const a = openCheckpoint(pathA);
  const b = openCheckpoint(pathB);
  const architecture = a.config && b.config
    ? analyzeArchitecture(a.config, b.config, {
        labelA: `${pathA}/config.json`, labelB: `${pathB}/config.json`,
        indexA: loadCheckpointIndex(a.root), indexB: loadCheckpointIndex(b.root),
        tensorsA: a.tensors, tensorsB: b.tensors,
      })
    : { available: false, reason: `no config.json in ${a.config ? pathB : pathA}` };
  const tokenizer = await tokenizerSection(a, b, pathA, pathB, options.texts);
  const matched = matchTensors(a.tensors, b.tensors);
  const plan = planComparison(matched, options);
  return { pathA, pathB, a, b, matched, plan, architecture, tokenizer };
}

/** The report from a prepared comparison and its item results (ordered by item index). */
export function assembleReport(
  prepared: PreparedComparison, results: ItemResult[], meta: WeightsMeta & { run: ComparisonReport['run'] },
): ComparisonReport {
  const weights = buildWeightsSection(prepared.matched, results, meta);
  const relation = (prepared.tokenizer as { relation?: string } | null)?.relation ?? null;
  return {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: 'lineage', version },
    models: { a: summarize(prepared.a, prepared.pathA), b: summarize(prepared.b, prepared.pathB) },
    architecture: prepared.architecture,
    tokenizer: prepared.tokenizer,
    weights,
    verdict: judgeWeights(weights, { tokenizerRelation: relation }),
    run: meta.run,
  };
}

/** `lineage compare` in process: prepare, execute on local threads, assemble. */
export async function compareModels(pathA: string, pathB: string, options: WeightsOptions & { texts?: string[] } = {}): Promise<ComparisonReport> {
  const started = new Date();
  const prepared = await prepareComparison(pathA, pathB, options);
  const { results, meta } = await executeLocally(prepared.matched, prepared.plan, options);
  return assembleReport(prepared, results, {
    ...meta,
    run: {
      threads: options.threads ?? 1,
      reader: options.reader ?? 'pread',
      startedAt: started.toISOString(),
      durationSeconds: (Date.now() - started.getTime()) / 1000,
    },
  });
}
