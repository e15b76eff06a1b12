/**
 * The controls of a comparison (DESIGN.md items 4 and 5, issue 5): what unrelated weights would
 * show, so that each cross-model value is read against a baseline rather than alone.
 */
import type { ItemResult } from '../exec/run-task.ts';
import type { HttpReadOptions } from '../io/http-client.ts';
import type { OpenedComparison, PreparedComparison } from '../compare/model-report.ts';
import { relatedThreshold } from '../policy.ts';
import type { BaselinePoint, LayerAlignment } from './layers.ts';
import { normControls, type NormControl } from './norms.ts';
import { moeLayers, moeLayersSteps, sharedLayers, type ExpertLayer } from './experts.ts';
import { planSharedRows, sharedTokenIds, type EmbeddingControl } from './embeddings.ts';
import { classifyTensor } from '../roles/roles.ts';
import { finalizeMoments } from '../stats/moments.ts';
import type { NeuronPermutationTest } from './neurons.ts';
import { addCellTimings, alignmentSection, cellSpecs, cellsWork, depthsDiffer, indexTensorsSteps, planAlignment, type AlignmentSection, type CellsPart } from '../align/index.ts';
import { chooseSorted } from '../sample/blocks.ts';
import { controlsFraction, notSampled, sampledExpertLayers } from '../sample/controls.ts';
import { Random } from '../synth/random.ts';
import { taskModels, type ControlExecutor, type ControlKind, type ControlOutcome, type ControlPart, type ControlTask, type ControlValues } from './tasks.ts';
import { localControlExecutor } from './executor.ts';
import { nextTurn, runStepsPaced } from '../exec/next-turn.ts';

export type { ControlExecutor, ControlOutcome, ControlTask } from './tasks.ts';
export { parseControlTask } from './tasks.ts';
export { decodeControlValue, encodeControlValue } from './wire.ts';
export { localControlExecutor } from './executor.ts';

/**
 * A comparison whose models are open and whose tensors are still being matched and planned
 * (compareModels on more than one thread): the controls' first tasks start on the opened models.
 */
export interface PendingComparison extends OpenedComparison {
  prepared: Promise<PreparedComparison>;
}

export interface Controls {
  norms: { tensors: NormControl[] };
  /** Within model A, the centered cosine between layers of the alignment role, by layer distance. */
  baselines: Record<string, BaselinePoint[]>;
  layers: LayerAlignment[];
  /** MoE layers present in both: experts matched across the models (router rows, then weights). */
  experts: ExpertLayer[];
  /** When the vocabularies (and so the embeddings' shapes) differ: rows of the tokens both hold. */
  embeddings: EmbeddingControl | null;
  /** MLP neurons matched across models whatever their order (one layer), with a p-value. */
  neurons: NeuronPermutationTest | null;
  /**
   * The aligned tests (core/src/align): hidden dimension aligned, heads, neurons, routers and
   * experts matched in every layer, each against the same matching on unrelated pairs. The
   * verdict rests on them where they ran.
   */
  alignment: AlignmentSection | null;
  /** Controls that could not run (their tensors unreadable), each with the reason. */
  unavailable: UnavailableControl[];
  /** MoE layers of both models the expert matching did not analyse, and why (absent when it analysed them all). */
  expertsSkipped?: { layer: number; reason: string }[];
  /** What a sampled run's controls left out (absent in an exact run). */
  sampled?: ControlsSampling;
}

/** Under --sample F the controls plan about F of their work (core/src/sample/controls.ts). */
export interface ControlsSampling {
  fraction: number;
  /** MoE layers the expert matching analysed, of those both models have (the others in `expertsSkipped`). */
  expertLayers: { analysed: number; of: number };
  /** Layer pairs given aligned cells, of the pairs the models have (null when the aligned tests did not run). */
  alignedLayerPairs: { chosen: number; of: number } | null;
  /** How the expert weight check reads expert matrices too small for block sampling. */
  expertWeights: string;
}

export interface UnavailableControl {
  control: string;
  available: false;
  reason: string;
}

/**
 * Rows of the embeddings that hold the same token: through the tokenizers when both are known,
 * else by id when the vocabularies have the same size (and no tokenizer says otherwise).
 */
export function tokenPairsOf(prepared: OpenedComparison): [number, number][] | null {
  const rows = (ck: OpenedComparison['a']) => ck.tensors.find((t) => classifyTensor(t.name).role === 'embedding')?.shape[0] ?? null;
  const [ra, rb] = [rows(prepared.a), rows(prepared.b)];
  if (ra === null || rb === null) return null;
  const { a: tokA, b: tokB } = prepared.tokenizers;
  if (tokA && tokB) {
    const { pairs } = sharedTokenIds(tokA, tokB, ra, rb);
    return pairs.length ? pairs : null;
  }
  if (ra !== rb || tokA || tokB) return null;
  return Array.from({ length: ra }, (_, i) => [i, i] as [number, number]);
}

function mlpRelatedByIndex(prepared: PreparedComparison, results: ItemResult[]): boolean {
  const values: number[] = [];
  prepared.matched.forEach((m, i) => {
    const moments = results[i]?.moments;
    if (m.group !== 'mlp' || !moments) return;
    const s = finalizeMoments(moments);
    if (s.centeredCosine !== null) values.push(s.centeredCosine - relatedThreshold(s.n));
  });
  // The median MLP tensor's margin above its threshold.
  values.sort((x, y) => x - y);
  return values.length > 0 && values[Math.floor(values.length / 2)]! > 0;
}

export interface ControlsOptions {
  /** Threads of the in-process executor (when no executor is given). */
  threads?: number;
  /** The run's --sample fraction: in (0, 1) the controls plan about that share of their work (an exact run otherwise). */
  sample?: number | null;
  /** How the in-process executor reads the models' http(s) files (remote models). */
  remote?: HttpReadOptions | null;
  seed?: number;
  /** Filled with the aligned tests' seconds by phase. */
  timings?: Record<string, number>;
  /** Runs the control tasks (default: this process's thread pool; the coordinator passes its work queue). */
  executor?: ControlExecutor;
  /** Called with each stage's task count before it runs (progress). */
  onStage?: (stage: number, tasks: number) => void;
  /** Called as each task of the in-process executor is answered (progress). */
  onAnswer?: () => void;
  /** Filled with the tensor bytes the control tasks read, where the executor can tell. */
  stats?: { bytes: number };
  /** Stops the in-process executor's tasks (the comparison failed elsewhere). */
  signal?: AbortSignal;
}

/** Layer alignment patterns whose pairing the cells keep: it found B's layers related to A's. */
const TRUSTED_PATTERNS = new Set(['identity', 'shifted', 'duplicated', 'removed']);

/**
 * The controls, planned as tasks in two stages and combined here (tasks.ts): stage 1 the layer
 * alignment, the expert matching (a few MoE layers per task), the shared-token rows, the neuron
 * test and the hidden alignment; stage 2 the aligned cells, which need the hidden alignment and
 * the layer pairing and start as soon as those two are in, beside the rest of stage 1. Each
 * control on its own: one whose task fails (a shard cut short, a mount gone) is reported
 * unavailable with the reason; the comparison and the other controls go on.
 *
 * `weightsResults` may still be coming (a promise of the weights pass's results), and the tensors
 * still being matched (a PendingComparison): the hidden and layer alignments need neither and
 * start at once, beside the planning and the weights pass (the hidden alignment is the longest
 * task and the cells wait on it); the rest of stage 1 is planned meanwhile and dispatched when the
 * results are in (the neuron test is asked for only where the MLP looks unrelated by index).
 */
export async function computeControls(input: PreparedComparison | PendingComparison, weightsResults: ItemResult[] | Promise<ItemResult[]>, options: ControlsOptions = {}): Promise<Controls> {
  // Everything up to the neuron test reads only the opened models (and their tokenizers).
  const opened: OpenedComparison = input;
  const seed = options.seed ?? 1;
  // Answers that come before stage 1 is announced (the lead tasks, beside the weights pass) are
  // passed on when it is, so that progress never counts more answers than tasks.
  let announced = false;
  let early = 0;
  const onAnswer = () => { if (announced) options.onAnswer?.(); else early++; };
  const executor = options.executor ?? localControlExecutor({ threads: options.threads ?? 1, models: { a: opened.a, b: opened.b }, remote: options.remote, onAnswer, signal: options.signal });
  const models = taskModels(opened.a, opened.b);
  const unavailable: UnavailableControl[] = [];
  const tasks: ControlTask[] = [];
  const add = (label: string, part: ControlPart) => { tasks.push({ id: tasks.length, label, models, seed, part }); return tasks.length - 1; };
  const count = (outcomes: ControlOutcome[]) => { for (const o of outcomes) if (o.ok && o.bytes !== undefined && options.stats) options.stats.bytes += o.bytes; };
  // Stage 2 needs only the hidden alignment and the layer alignment: they go as a batch of their
  // own, and the cells start when they are in, beside the rest of stage 1 (the expert matching
  // and the others), rather than after its last task. Each batch numbers its tasks from 0.
  const first: ControlOutcome[] = [];
  const batch = (ats: number[]) => {
    const run = executor.run(ats.map((at, id) => ({ ...tasks[at]!, id }))).then((outcomes) => {
      count(outcomes);
      ats.forEach((at, k) => { first[at] = outcomes[k]!; });
    });
    // Awaited below; a failure (a cancelled job) must not go unhandled while the other batch is awaited first.
    run.catch(() => {});
    return run;
  };

  // Stage 1. The hidden alignment first: stage 2 waits on it.
  const tokenPairs = cappedTokenPairs(tokenPairsOf(opened), seed);
  const hiddenAt = add('alignment: hidden dimensions', { kind: 'alignment.hidden', tokenPairs });
  const layersAt = add('layer alignment', { kind: 'layers' });
  const leadRun = batch([hiddenAt, layersAt]);
  // Once the tensors are planned (the weights pass is then on the threads too; planning is the
  // path to it) and while the threads run: the models' tensor indexes, which planning stage 2
  // reads, and the rest of stage 1 but the neuron test, which needs no weights results either
  // (planning the expert tasks indexes ~19k tensors of a 100B MoE: done here, it is off the path
  // from the weights pass's end to the dispatch of these tasks).
  const prepared = 'prepared' in input ? await input.prepared : input;
  // Indexing is ~0.1 s a model at 19k tensors: done in steps, the event loop (a coordinator's
  // Watch and heartbeats, the local pool's hand-offs to threads) served between them; planning the
  // expert tasks then reads the indexes made here.
  await runStepsPaced(indexTensorsSteps(opened.a));
  await runStepsPaced(indexTensorsSteps(opened.b));
  await runStepsPaced(moeLayersSteps(opened.a));
  await runStepsPaced(moeLayersSteps(opened.b));
  const fraction = controlsFraction(options.sample);
  const expertPlan = expertLayerRuns(opened, fraction);
  await nextTurn();
  const rows = fraction === null ? {} : { rows: fraction };
  const expertsAt = expertPlan.runs.map((layers) => add(`experts: layers ${layers[0]}-${layers[layers.length - 1]}`, { kind: 'experts', layers, ...rows }));
  const embedA = opened.a.tensors.find((t) => classifyTensor(t.name).role === 'embedding');
  const embedB = opened.b.tensors.find((t) => classifyTensor(t.name).role === 'embedding');
  // Rows pair by id only when the vocabularies do: otherwise compare the rows of shared tokens.
  const sameIdRate = opened.tokenizer.available ? opened.tokenizer.sameIdRate : null;
  const vocabDiffers = !!embedA && !!embedB && (embedA.shape.join() !== embedB.shape.join() || (typeof sameIdRate === 'number' && sameIdRate < 0.99));
  const rowsPlan = vocabDiffers ? planSharedRows(opened.a, opened.b, opened.tokenizers.a, opened.tokenizers.b, { seed }) : null;
  const embeddingsAt = rowsPlan ? add('shared-token rows', { kind: 'embeddings', plan: rowsPlan }) : null;
  const results = await weightsResults;
  // Only where it can change the reading: the MLP looks unrelated when compared by index.
  const neuronsAt = mlpRelatedByIndex(prepared, results) ? null : add('neurons', { kind: 'neurons' });

  options.onStage?.(1, tasks.length);
  announced = true;
  for (; early > 0; early--) options.onAnswer?.();
  const restRun = batch(tasks.map((_, at) => at).filter((at) => at !== hiddenAt && at !== layersAt));
  await leadRun;
  // Unavailable controls are listed in plan order (stage 1's, then the cells'), whichever finished first.
  const failed = new Map<number, UnavailableControl>();
  const cellsFailed: UnavailableControl[] = [];
  const value = <K extends ControlKind>(at: number | null, control: string, _kind: K): ControlValues[K] | undefined => {
    if (at === null) return undefined;
    const o = first[at]!;
    if (o.ok) return o.value as ControlValues[K];
    failed.set(at, { control, available: false, reason: o.error });
    return undefined;
  };
  const layers = value(layersAt, 'layers', 'layers') ?? null;
  const hidden = value(hiddenAt, 'alignment', 'alignment.hidden');

  // Stage 2: the aligned cells, under the hidden alignment, with layers paired (depth changed:
  // B's layers with A's through the layer alignment).
  let alignment: AlignmentSection | null = null;
  let alignedPairs: ControlsSampling['alignedLayerPairs'] | null = null;
  let cells: Promise<void> = Promise.resolve();
  // Depths differ and the layer alignment of raw rows paired nothing it found related (heads
  // permuted or the stream rotated scramble raw rows): a task pairs the layers through their
  // circuits in the cells' basis first (align/layer-circuits.ts).
  let circuitsAt: number | null = null;
  let circuitPairs: [number, number][] | null = null;
  if (hidden?.selection && depthsDiffer(prepared.a, prepared.b) && !(layers && TRUSTED_PATTERNS.has(layers.alignment.pattern))) {
    circuitsAt = add('alignment: layers paired through their circuits', { kind: 'alignment.layers', selection: hidden.selection });
    await batch([circuitsAt]);
    circuitPairs = value(circuitsAt, 'alignment', 'alignment.layers') ?? null;
  }
  if (hidden) {
    const layerPairs = layers ? layers.alignment.alignment.map((x) => [x.a, x.b] as [number, number]) : null;
    const plan = planAlignment(prepared.a, prepared.b, layerPairs, fraction, circuitPairs);
    alignedPairs = { chosen: plan.pairs.length, of: plan.candidates };
    const { specs, notes } = cellSpecs(plan, hidden, tokenPairs, seed);
    const cellTasks = specs.map((spec, id): ControlTask => ({ id, label: `alignment: ${spec.group} ${spec.pairs.length ? `layers ${spec.pairs[0]![0]}-${spec.pairs[spec.pairs.length - 1]![0]}` : 'rows'}`, models, seed, part: { kind: 'alignment.cells', spec } }));
    options.onStage?.(2, cellTasks.length);
    cells = runHeaviestFirst(executor, cellTasks, specs.map(cellsWork)).then((second) => {
      count(second);
      const parts: (CellsPart | null)[] = second.map((o, i) => {
        if (o.ok) return o.value as CellsPart;
        cellsFailed.push({ control: 'alignment', available: false, reason: `${cellTasks[i]!.label}: ${o.error}` });
        return null;
      });
      if (options.timings) addCellTimings(options.timings, specs, parts);
      alignment = alignmentSection(hidden, plan, parts.filter((p): p is CellsPart => p !== null), notes, options.timings);
    });
    cells.catch(() => {});
  }
  await restRun;
  await cells;
  const experts: ExpertLayer[] = [];
  const expertsSkipped = expertPlan.left.map((layer) => ({ layer, reason: notSampled(fraction!) }));
  expertsAt.forEach((at, k) => {
    const answer = value(at, 'experts', 'experts');
    experts.push(...(answer?.layers ?? []));
    // An answer may come from a worker: only the layers its task asked for, each with a short reason.
    const asked = new Set(expertPlan.runs[k]);
    for (const s of answer?.skipped ?? []) {
      if (asked.has(s?.layer) && typeof s.reason === 'string') expertsSkipped.push({ layer: s.layer, reason: s.reason.slice(0, MAX_REASON_CHARS) });
    }
  });
  experts.sort((x, y) => x.layer - y.layer);
  expertsSkipped.sort((x, y) => x.layer - y.layer);
  const embeddings = value(embeddingsAt, 'embeddings', 'embeddings') ?? null;
  const neurons = value(neuronsAt, 'neurons', 'neurons') ?? null;
  for (const at of [layersAt, ...expertsAt, embeddingsAt, neuronsAt, hiddenAt, circuitsAt]) if (at !== null && failed.has(at)) unavailable.push(failed.get(at)!);
  unavailable.push(...cellsFailed);

  return {
    alignment,
    norms: { tensors: normControls(prepared.matched, results) },
    baselines: layers ? { [layers.alignment.role]: layers.baseline } : {},
    layers: layers ? [layers.alignment] : [],
    experts,
    embeddings,
    neurons,
    unavailable,
    // Both only where they say something, so an exact run's report keeps its fields.
    ...(expertsSkipped.length ? { expertsSkipped } : {}),
    ...(fraction === null ? {} : {
      sampled: {
        fraction,
        expertLayers: { analysed: expertPlan.runs.flat().length, of: expertPlan.runs.flat().length + expertPlan.left.length },
        alignedLayerPairs: alignedPairs,
        expertWeights: `expert matrices too small for block sampling read as about ${fraction} of their rows (runs of adjacent rows, the same for every expert of a layer and role)`,
      },
    }),
  };
}

/** What the controls phase cost, as the report's `run` gives it. */
export interface ControlsRun {
  /** Seconds of work in the aligned tests, by phase (summed over tasks that may run side by side). */
  alignmentSeconds?: Record<string, number>;
  /**
   * Its tasks (both stages); wall-clock seconds from the end of the weights pass to the last answer
   * (what the controls added to the run); where its first tasks started before the weights pass
   * ended (in process, on more than one thread: once the models are open, beside the planning and
   * the weights pass), for how long they did; and (in process only) the tensor bytes its tasks read.
   */
  controls: { tasks: number; seconds: number; besideWeightsSeconds?: number; bytes?: number };
}

/** The controls, with the `run` fields of their phase: one place for the local comparison and the coordinator. */
export async function runControlsPhase(
  prepared: PreparedComparison | PendingComparison, results: ItemResult[] | Promise<ItemResult[]>, options: Omit<ControlsOptions, 'timings' | 'stats'>,
): Promise<{ controls: Controls; run: ControlsRun }> {
  const alignmentSeconds: Record<string, number> = {};
  const counted = { tasks: 0, bytes: 0 };
  const started = performance.now();
  let weightsDone = started;
  const timed = Array.isArray(results) ? results : results.then((r) => { weightsDone = performance.now(); return r; });
  // Awaited by computeControls unless it fails first (planning failed): its rejection is handled there or not at all.
  if (!Array.isArray(timed)) timed.catch(() => {});
  const controls = await computeControls(prepared, timed, {
    ...options, timings: alignmentSeconds, stats: counted,
    onStage: (stage, n) => { counted.tasks += n; options.onStage?.(stage, n); },
  });
  const seconds = Math.round(performance.now() - weightsDone) / 1000;
  const beside = Math.round(weightsDone - started) / 1000;
  const phase: ControlsRun['controls'] = {
    tasks: counted.tasks, seconds,
    ...(beside > 0 ? { besideWeightsSeconds: beside } : {}),
    // Bytes are counted by the in-process executor's readers; a cluster's workers do not report them.
    ...(options.executor ? {} : { bytes: counted.bytes }),
  };
  return { controls, run: { ...(Object.keys(alignmentSeconds).length ? { alignmentSeconds } : {}), controls: phase } };
}

/**
 * Runs a batch with its heaviest tasks handed out first (`work`: each task's relative work), and
 * answers in the batch's own order: an executor numbers a batch's tasks by their place in it, so
 * the reordered batch is renumbered for it and its answers are put back.
 */
export async function runHeaviestFirst(executor: ControlExecutor, tasks: ControlTask[], work: number[]): Promise<ControlOutcome[]> {
  if (!tasks.length) return [];
  // Stable: equal work keeps plan order.
  const order = tasks.map((_, i) => i).sort((x, y) => work[y]! - work[x]! || x - y);
  const answers = await executor.run(order.map((at, id) => ({ ...tasks[at]!, id })));
  const out = new Array<ControlOutcome>(tasks.length);
  order.forEach((at, k) => { out[at] = answers[k]!; });
  return out;
}

/** A layer's reason for not being analysed, as reported (an answer's text is cut to this). */
const MAX_REASON_CHARS = 500;
/** MoE layers per expert-control task at most (each layer's null is its main cost)... */
const EXPERT_LAYERS_PER_TASK = 4;
/** ...and E_A·E_B cells over its layers at most, so that the answer (the layers' matrices) fits one result message. */
const EXPERT_CELLS_PER_TASK = 65_536;

/**
 * The MoE layers both models have (under --sample, the evenly spaced share sampledExpertLayers
 * keeps; `left`: the others), cut into runs that make one expert-control task each.
 */
function expertLayerRuns(prepared: OpenedComparison, fraction: number | null): { runs: number[][]; left: number[] } {
  const [ma, mb] = [moeLayers(prepared.a), moeLayers(prepared.b)];
  const { chosen, left } = sampledExpertLayers(sharedLayers(ma, mb), fraction);
  const runs: number[][] = [];
  let run: number[] = [];
  let cells = 0;
  for (const layer of chosen) {
    const size = Math.max(1, ma.get(layer)!.experts.size * mb.get(layer)!.experts.size);
    if (run.length && (run.length >= EXPERT_LAYERS_PER_TASK || cells + size > EXPERT_CELLS_PER_TASK)) {
      runs.push(run);
      run = [];
      cells = 0;
    }
    run.push(layer);
    cells += size;
  }
  if (run.length) runs.push(run);
  return { runs, left };
}
/** Token pairs a task carries at most (a seeded choice): the aligned tests use a few hundred to a thousand. */
const MAX_TOKEN_PAIRS = 4096;

function cappedTokenPairs(pairs: [number, number][] | null, seed: number): [number, number][] | null {
  if (!pairs || pairs.length <= MAX_TOKEN_PAIRS) return pairs;
  const random = new Random(seed, 'token pairs');
  return chooseSorted(pairs.length, MAX_TOKEN_PAIRS, random).map((i) => pairs[i]!);
}
