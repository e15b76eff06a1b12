/**
 * The whole report of `lineage compare`: architecture, tokenizer and weights of two model
 * folders. Field names are a contract (DESIGN.md): only ever add to them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpointSteps, type Checkpoint } from '../checkpoint/folder.ts';
import { configLabel, isRemoteCheckpoint, isRemoteSource, openModel, releaseRemoteCheckpoint } from '../checkpoint/remote.ts';
import { remoteSection, type RemoteSection } from '../checkpoint/remote-section.ts';
import type { HttpReadOptions } from '../io/http-client.ts';
import { readLogsIn, type ReadLog } from '../io/read-log.ts';
import { isBadInput } from '../errors.ts';
import { analyzeArchitectureSteps, loadCheckpointIndex, totalTensorElements, type ArchitectureSection } from '../arch/index.ts';
import { compareTokenizers, loadTokenizer, type Tokenizer, type TokenizerSection } from '../tokenizer/index.ts';
import type { ItemResult } from '../exec/run-task.ts';
import { getThreadPool } from '../exec/thread-pool.ts';
import type { Plan } from '../plan/plan.ts';
import { buildWeightsSection, buildWeightsSectionYielding, type WeightsMeta, type WeightsSection } from '../report/weights.ts';
import { matchTensorsSteps, type MatchedTensor } from '../roles/match.ts';
import { executeLocally, planComparisonSteps, type WeightsOptions } from './weights.ts';
import { judgeWeights, type Verdict } from '../verdict/verdict.ts';
import { runControlsPhase, type Controls, type ControlsRun, type PendingComparison } from '../controls/index.ts';
import { compareBehaviour, LocalLlamaModel, type BehaviourSection } from '../behaviour/index.ts';
import { runStepsPaced } from '../exec/next-turn.ts';
import { runSteps, type Steps } from '../steps.ts';

export const SCHEMA_VERSION = 1;

/** The architecture section, or why there is none (a side without config.json). */
export type ArchitectureReport = ArchitectureSection | { available: false; reason: string };

export interface ModelSummary {
  path: string;
  shards: number;
  tensors: number;
  bytes: number;
  /** Parameters counted from the tensor shapes (FP8 scales excluded). */
  paramsFromTensors: number;
  /** Only for a model read over HTTP: URLs, pinned revision, SHA-256 of every byte fetched, coverage. */
  remote?: RemoteSection;
}

export interface ComparisonReport {
  schemaVersion: number;
  tool: { name: 'lineage'; version: string };
  models: { a: ModelSummary; b: ModelSummary };
  architecture: ArchitectureReport;
  tokenizer: TokenizerSection;
  weights: WeightsSection;
  /** What unrelated weights would show (norm nulls, within-model baselines, layer alignment); null when not computed. */
  controls: Controls | null;
  /** What the two models do on probes (core/src/behaviour); null when it was not run. */
  behaviour: BehaviourSection | null;
  verdict: Verdict;
  /** How this run went; the only part that differs between runs of the same comparison. */
  run: {
    threads: number; reader: string; startedAt: string; durationSeconds: number;
    alignmentSeconds?: ControlsRun['alignmentSeconds'];
    controls?: ControlsRun['controls'];
    /**
     * A cluster job on model URLs: the read logs its workers sent back with their task results
     * (`received`, every answering delivery, failed ones included; `failedDeliveries`, those of a
     * delivery that failed: their fetches count, not their ranges used), the entries the
     * coordinator's checks dropped (`dropped`: runs of other URLs, ranges past a file's end, bad
     * hex, logs over the limits), and why (`notes`, the first few reasons).
     */
    readLogs?: { received: number; failedDeliveries?: number; dropped: number; notes: string[] };
  };
}

const version = (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;

/** A broken tokenizer file costs the tokenizer section, not the weight comparison: it says why. */
async function tokenizerSection(
  a: Checkpoint, b: Checkpoint, pathA: string, pathB: string, texts?: string[],
): Promise<{ section: TokenizerSection; tokenizers: { a: Tokenizer | null; b: Tokenizer | null } }> {
  try {
    const [tokA, tokB] = [await loadTokenizer(a.root), await loadTokenizer(b.root)];
    const section = compareTokenizers(tokA, tokB, {
      texts,
      labelA: pathA,
      labelB: pathB,
      configVocabA: typeof a.config?.vocab_size === 'number' ? a.config.vocab_size : undefined,
      configVocabB: typeof b.config?.vocab_size === 'number' ? b.config.vocab_size : undefined,
    });
    return { section, tokenizers: { a: tokA, b: tokB } };
  } catch (err) {
    if (!isBadInput(err)) throw err;
    return { section: { available: false, reason: err.message }, tokenizers: { a: null, b: null } };
  }
}

function summarize(ck: Checkpoint, path: string, readLogs: ReadLog[], controlReadLogs: ReadLog[] | null): ModelSummary {
  return {
    path,
    shards: ck.shards.length,
    tensors: ck.tensors.length,
    bytes: ck.totalBytes,
    paramsFromTensors: totalTensorElements(ck.tensors),
    ...(isRemoteCheckpoint(ck) ? { remote: remoteSection(ck, readLogs, controlReadLogs) } : {}),
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
  architecture: ArchitectureReport;
  tokenizer: TokenizerSection;
  /** The loaded tokenizers (for the shared-token embedding control). */
  tokenizers: { a: Tokenizer | null; b: Tokenizer | null };
}

/**
 * What a comparison knows once both models are open: enough for the controls' first tasks (the
 * hidden and layer alignments), which can then start while the tensors are matched and planned.
 */
export type OpenedComparison = Pick<PreparedComparison, 'pathA' | 'pathB' | 'a' | 'b' | 'tokenizer' | 'tokenizers'>;

export interface PrepareOptions {
  targetTaskBytes?: number; sample?: number; seed?: number; texts?: string[]; remote?: HttpReadOptions;
  /** Called once both models are open (their headers read and checked), before the rest is prepared. */
  onOpened?: () => void;
}

/** Both models opened and their tokenizers compared. */
export async function openComparison(pathA: string, pathB: string, options: PrepareOptions = {}): Promise<OpenedComparison> {
  // A path may be a model folder, a folder URL or a list of file URLs (see checkpoint/remote.ts).
  const a = await openPaced(pathA, options.remote);
  const b = await openPaced(pathB, options.remote);
  options.onOpened?.();
  const { section: tokenizer, tokenizers } = await tokenizerSection(a, b, pathA, pathB, options.texts);
  return { pathA, pathB, a, b, tokenizer, tokenizers };
}

/**
 * A model folder opened in steps, the event loop served between them (a header of 19k tensors is
 * ~0.1 s of checking); a remote model as openModel opens it (its awaits serve the event loop).
 */
function openPaced(path: string, remote: HttpReadOptions | undefined): Promise<Checkpoint> {
  return isRemoteSource(path) ? openModel(path, remote) : runStepsPaced(openCheckpointSteps(path));
}

/** The rest of the preparation of opened models: their architectures, tensors matched, the plan. */
export function planOpened(opened: OpenedComparison, options: PrepareOptions = {}): PreparedComparison {
  return runSteps(planSteps(opened, options));
}

/** The same, with the event loop served between its steps (~0.3 s in all at 19k tensors a side). */
export async function prepareComparison(pathA: string, pathB: string, options: PrepareOptions = {}): Promise<PreparedComparison> {
  return runStepsPaced(planSteps(await openComparison(pathA, pathB, options), options));
}

function* planSteps(opened: OpenedComparison, options: PrepareOptions): Steps<PreparedComparison> {
  const { a, b, pathA, pathB } = opened;
  const architecture = a.config && b.config
    ? yield* analyzeArchitectureSteps(a.config, b.config, {
        labelA: configLabel(a, pathA), labelB: configLabel(b, pathB),
        indexA: loadCheckpointIndex(a.root), indexB: loadCheckpointIndex(b.root),
        tensorsA: a.tensors, tensorsB: b.tensors,
      })
    : { available: false as const, reason: `no config.json in ${a.config ? pathB : pathA}` };
  yield;
  const matched = yield* matchTensorsSteps(a.tensors, b.tensors);
  yield;
  const plan = yield* planComparisonSteps(matched, options);
  return { ...opened, matched, plan, architecture };
}

/** The report from a prepared comparison and its item results (ordered by item index). */
export function assembleReport(
  prepared: PreparedComparison, results: ItemResult[],
  meta: WeightsMeta & {
    run: ComparisonReport['run'];
    /** Logs of the readers that fetched remote files (remote models only). */
    readLogs?: ReadLog[];
    /** Logs of the control tasks' remote readers, where they ran in this process. */
    controlReadLogs?: ReadLog[];
    controls?: Controls | null;
    behaviour?: BehaviourSection | null;
    /** The weights section, where the caller built it already (from the same results and meta). */
    weights?: WeightsSection;
  },
): ComparisonReport {
  const weights = meta.weights ?? buildWeightsSection(prepared.matched, results, meta);
  const relation = 'relation' in prepared.tokenizer ? prepared.tokenizer.relation : null;
  return {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: 'lineage', version },
    models: { a: summarize(prepared.a, prepared.pathA, meta.readLogs ?? [], meta.controlReadLogs ?? null), b: summarize(prepared.b, prepared.pathB, meta.readLogs ?? [], meta.controlReadLogs ?? null) },
    architecture: prepared.architecture,
    tokenizer: prepared.tokenizer,
    weights,
    controls: meta.controls ?? null,
    behaviour: meta.behaviour ?? null,
    verdict: judgeWeights(weights, { tokenizerRelation: relation, controls: meta.controls ?? null, behaviour: meta.behaviour ?? null }),
    run: meta.run,
  };
}

/** A promise with its settlers in hand (the controls are given the plan and results before they exist). */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(err: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => {}); // a rejection is the comparison's error, thrown where it happened
  return { promise, resolve, reject };
}

/** With 'auto', both models together below this run their behaviour probes (our forward pass is plain float32). */
export const AUTO_BEHAVIOUR_BYTES = 16 * 1024 * 1024;

/**
 * The behaviour section: with `behaviour: 'on'` always (a model our forward pass cannot run is
 * then an error); with 'auto' for local Llama-family models below AUTO_BEHAVIOUR_BYTES, leaving
 * the section out for a model that cannot run; with 'off' (the default: the probes take 20-150 s
 * even on the small models here) never.
 */
async function behaviourOf(prepared: PreparedComparison, mode: 'on' | 'off' | 'auto', seed?: number): Promise<BehaviourSection | null> {
  if (mode === 'off' || isRemoteCheckpoint(prepared.a) || isRemoteCheckpoint(prepared.b)) return null;
  if (mode === 'auto' && prepared.a.totalBytes + prepared.b.totalBytes > AUTO_BEHAVIOUR_BYTES) return null;
  try {
    const [a, b] = [await LocalLlamaModel.open(prepared.a.root), await LocalLlamaModel.open(prepared.b.root)];
    return await compareBehaviour(a, b, { seed });
  } catch (err) {
    if (mode === 'on' || !isBadInput(err)) throw err;
    return null;
  }
}

/** `lineage compare` in process: prepare, execute on local threads, assemble. */
export async function compareModels(
  pathA: string, pathB: string,
  options: WeightsOptions & {
    texts?: string[]; behaviour?: 'on' | 'off' | 'auto';
    /** The controls phase: called as each of its two stages of tasks starts, and as each task is answered. */
    onControls?: (event: { stage: number; tasks: number } | { answered: number }) => void;
  } = {},
): Promise<ComparisonReport> {
  const started = new Date();
  // Once both models open, the pool's threads load their code while this thread matches the
  // tensors and plans (not before: a path that does not open fails without waiting for threads).
  const warm = () => { if ((options.threads ?? 1) > 1) getThreadPool(options.threads).warm(options.threads); };
  const opened = await openComparison(pathA, pathB, { ...options, onOpened: warm });
  // Remote models: the executor threads' HTTP readers leave their read logs in a folder as they
  // close, one folder for the weights pass and one for the controls (the report tells them apart).
  const remote = isRemoteCheckpoint(opened.a) || isRemoteCheckpoint(opened.b);
  const logDirs = remote ? [mkdtempSync(join(tmpdir(), 'lineage-reads-')), mkdtempSync(join(tmpdir(), 'lineage-reads-'))] as const : null;
  let prepared: PreparedComparison;
  let executed: Awaited<ReturnType<typeof executeLocally>>;
  let phase: Awaited<ReturnType<typeof runControlsPhase>>;
  let weights: WeightsSection;
  let readLogs: ReadLog[] | undefined;
  let controlReadLogs: ReadLog[] | undefined;
  try {
    // On more than one thread the controls' first tasks (the hidden and layer alignments, which
    // need neither the matched tensors nor the weights results) start now, while this thread
    // matches and plans the tensors, and run beside the weights pass: the aligned cells wait on
    // them. On one thread they would only take turns with it.
    const beside = (options.threads ?? 1) > 1;
    const stop = new AbortController();
    // Resolved once stage 1's tasks are all handed to the executor (announced, then dispatched in
    // the same turn): the weights section is built after that, while the threads run them.
    let stageOneOut!: () => void;
    const stageOne = new Promise<void>((resolve) => { stageOneOut = resolve; });
    const startControls = (input: PreparedComparison | PendingComparison, results: ItemResult[] | Promise<ItemResult[]>) => runControlsPhase(input, results, {
      threads: options.threads, seed: options.seed, sample: options.sample, remote: logDirs ? { ...options.remote, logDir: logDirs[1] } : undefined,
      signal: stop.signal,
      onStage: (stage, n) => { if (stage === 1) stageOneOut(); options.onControls?.({ stage, tasks: n }); },
      onAnswer: () => options.onControls?.({ answered: 1 }),
    });
    const planned = deferred<PreparedComparison>();
    const weightsDone = deferred<ItemResult[]>();
    let controlsPhase = beside ? startControls({ ...opened, prepared: planned.promise }, weightsDone.promise) : null;
    controlsPhase?.catch(() => {}); // awaited below, after the weights section
    try {
      const plannedNow = planOpened(opened, options);
      prepared = plannedNow;
      // The controls go on with the plan once the weights pass's tasks are handed out (onStart
      // comes just before, in the same turn): they index tensors meanwhile, off the path to them.
      const onStart: WeightsOptions['onStart'] = (bytes, tasks) => { options.onStart?.(bytes, tasks); planned.resolve(plannedNow); };
      // Local models read through the plain local reader (blocking reads where they pay): the HTTP
      // routing, which has no blocking read, only when a model is remote.
      executed = await executeLocally(prepared.matched, prepared.plan, logDirs ? { ...options, onStart, remote: { ...options.remote, logDir: logDirs[0] } } : { ...options, onStart, remote: undefined });
      weightsDone.resolve(executed.results);
    } catch (err) {
      // Planning or the weights pass failed: its error is the comparison's; the control tasks already running stop.
      stop.abort();
      planned.reject(err);
      weightsDone.reject(err);
      await controlsPhase?.catch(() => {});
      throw err;
    }
    controlsPhase ??= startControls(prepared, executed.results);
    controlsPhase.catch(() => {});
    // Once the control tasks are on the pool's threads, this thread builds the weights section
    // meanwhile (0.2-0.6 s at 19k tensors) rather than before them or after them, in steps: the
    // threads wait for this one to hand out their next tasks.
    await Promise.race([stageOne, controlsPhase.then(() => {}, () => {})]);
    weights = await buildWeightsSectionYielding(prepared.matched, executed.results, executed.meta);
    phase = await controlsPhase;
    if (logDirs) [readLogs, controlReadLogs] = [readLogsIn(logDirs[0]), readLogsIn(logDirs[1])];
  } finally {
    for (const dir of logDirs ?? []) rmSync(dir, { recursive: true, force: true });
    releaseRemoteCheckpoint(opened.a);
    releaseRemoteCheckpoint(opened.b);
  }
  const { results, meta } = executed;
  const controls = phase.controls;
  const behaviour = await behaviourOf(prepared, options.behaviour ?? 'off', options.seed);
  return assembleReport(prepared, results, {
    ...meta,
    weights,
    controls,
    behaviour,
    readLogs,
    controlReadLogs,
    run: {
      threads: options.threads ?? 1,
      reader: options.reader ?? 'pread',
      startedAt: started.toISOString(),
      durationSeconds: (Date.now() - started.getTime()) / 1000,
      ...phase.run,
    },
  });
}
