/**
 * The controls as tasks (issue 12): plain-data units of work that any executor runs (a thread of
 * the process's pool, or a cluster worker pulling from the same JetStream queue as the weights
 * pass), each reading its own tensors and answering with a small result. The caller plans them
 * in two stages (stage 2 needs the hidden alignment and the layer pairing of stage 1) and
 * combines the answers (index.ts); it reads no tensor data itself.
 *
 * A task names its models by folder, never by tensor list, so a task stays a few kilobytes on a
 * 100B MoE: the executor opens the folders' headers (a worker only under its model roots).
 */
import type { Checkpoint } from '../checkpoint/folder.ts';
import { modelSource } from '../checkpoint/source.ts';
import { LineageError } from '../errors.ts';
import { withRemoteReads } from '../io/blocking.ts';
import type { HttpReadOptions } from '../io/http-client.ts';
import { relatedThreshold } from '../policy.ts';
import { alignedCellsPart, alignHiddenPart, alignLayersByCircuits, CELL_GROUPS, type CellsPart, type CellsSpec, type HiddenPart, type PlainSelection } from '../align/index.ts';
import { isBlockBases } from '../align/internal-basis.ts';
import { alignLayers, type BaselinePoint, type LayerAlignment } from './layers.ts';
import { analyzeExpertLayers, type ExpertAnalysis } from './experts.ts';
import { compareSharedRows, type EmbeddingControl, type SharedRowsPlan } from './embeddings.ts';
import { neuronPermutationTest, type NeuronPermutationTest } from './neurons.ts';

/** The share of the expert weights the expert control reads. */
const EXPERT_CONTROL_SAMPLE = 0.05;

/** What one control task computes. */
export type ControlPart =
  /** Layers of A against layers of B, and A's layers against each other (the baseline). */
  | { kind: 'layers' }
  /** The expert matching of these MoE layers, with its permutation null; `rows`: the run's --sample fraction (expert weights read as that share of their rows). */
  | { kind: 'experts'; layers: number[]; rows?: number }
  /** The rows of shared tokens the plan chose, matched and mismatched. */
  | { kind: 'embeddings'; plan: SharedRowsPlan }
  /** One layer's MLP neurons matched whatever their order. */
  | { kind: 'neurons' }
  /** Step 1 of the aligned tests: the hidden dimensions put in correspondence. */
  | { kind: 'alignment.hidden'; tokenPairs: [number, number][] | null }
  /** Step 2: one group of aligned cells over a run of layer pairs. */
  | { kind: 'alignment.cells'; spec: CellsSpec }
  /** Between the hidden alignment and the cells, where depths differ and the layer alignment saw nothing: layers paired through their circuits. */
  | { kind: 'alignment.layers'; selection: PlainSelection };

export type ControlKind = ControlPart['kind'];

export interface ControlTask {
  /** Position in its stage (answers are combined by it, never by arrival). */
  id: number;
  label: string;
  /**
   * The models as the comparison opened them (checkpoint/source.ts): folders, or for a remote
   * model its file URLs at the pinned revision, with the digest of the tensor table planned from.
   */
  models: { a: string; b: string; digestA?: string; digestB?: string };
  seed: number;
  part: ControlPart;
}

/** What each kind answers (plain data: it crosses threads by structured clone and the network as JSON). */
export interface ControlValues {
  layers: { alignment: LayerAlignment; baseline: BaselinePoint[] } | null;
  experts: ExpertAnalysis;
  embeddings: EmbeddingControl;
  neurons: NeuronPermutationTest | null;
  'alignment.hidden': HiddenPart | null;
  'alignment.cells': CellsPart;
  'alignment.layers': [number, number][] | null;
}

export type ControlOutcome =
  /** `bytes`: tensor bytes the task read, where the executor can tell (in process). */
  | { ok: true; value: unknown; seconds: number; bytes?: number }
  | { ok: false; error: string };

/** Runs control tasks and answers each, in the order given; a task that fails answers `{ok: false}` (the control is then unavailable, the job goes on). */
export interface ControlExecutor {
  run(tasks: ControlTask[]): Promise<ControlOutcome[]>;
}

/** How tasks name the comparison's models: folders, or pinned URLs with their tensor tables' digests. */
export function taskModels(a: Checkpoint, b: Checkpoint): ControlTask['models'] {
  const [sa, sb] = [modelSource(a), modelSource(b)];
  return { a: sa.path, b: sb.path, ...(sa.digest ? { digestA: sa.digest } : {}), ...(sb.digest ? { digestB: sb.digest } : {}) };
}

/**
 * Runs one control task on checkpoints the caller opened from `task.models`. `remote`: how their
 * http(s) files are read (remote models); without it a remote file makes its control unavailable.
 */
export function runControlTask(task: ControlTask, models: { a: Checkpoint; b: Checkpoint }, remote: HttpReadOptions | null = null): Promise<ControlValues[ControlKind]> {
  return withRemoteReads(remote, () => runPart(task, models));
}

async function runPart(task: ControlTask, models: { a: Checkpoint; b: Checkpoint }): Promise<ControlValues[ControlKind]> {
  const { a, b } = models;
  const { part, seed } = task;
  // Inside a task, comparisons run on the calling thread: the task itself is the unit of parallelism.
  const threads = 1;
  switch (part.kind) {
    case 'layers':
      return alignLayers(a, b, (v, n) => v !== null && v > relatedThreshold(n), { seed });
    case 'experts':
      // The expert weights are a control: read at EXPERT_CONTROL_SAMPLE in blocks, and a matrix too
      // small for blocks as that share of its rows (under --sample F, F of them), not whole: a
      // 16-expert MoE of 512 x 1024 experts read its experts whole, more bytes than the weights pass.
      return analyzeExpertLayers(a, b, { sample: EXPERT_CONTROL_SAMPLE, seed, threads, layers: part.layers, rows: part.rows ?? EXPERT_CONTROL_SAMPLE });
    case 'embeddings':
      return compareSharedRows(a, b, part.plan, { seed, threads });
    case 'neurons':
      return neuronPermutationTest(a, b, { seed, rows: 32 });
    case 'alignment.hidden':
      return alignHiddenPart(a, b, part.tokenPairs, seed);
    case 'alignment.cells':
      return alignedCellsPart(a, b, part.spec);
    case 'alignment.layers':
      return alignLayersByCircuits(a, b, part.selection);
  }
}

/** A model's file URLs (a few hundred shards) fit; anything longer is not a model a task names. */
const MAX_SOURCE_CHARS = 256 * 1024;

/**
 * A task as it arrives from elsewhere (a NATS message): checked field by field before anything
 * is opened, so a malformed or hostile one fails as bad input instead of reading at random.
 */
export function parseControlTask(json: string): ControlTask {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new LineageError('BAD_INPUT', `control task: not JSON (${(err as Error).message})`);
  }
  const bad = (why: string): never => { throw new LineageError('BAD_INPUT', `control task: ${why}`); };
  if (!isObject(raw)) return bad('not an object');
  const { id, label, models, seed, part } = raw as Record<string, unknown>;
  if (!isCount(id)) bad('id');
  if (typeof label !== 'string' || label.length > 200) bad('label');
  if (!isObject(models) || typeof models.a !== 'string' || typeof models.b !== 'string' || !models.a || !models.b) bad('models');
  const m = models as Record<string, unknown>;
  if ((m.a as string).length > MAX_SOURCE_CHARS || (m.b as string).length > MAX_SOURCE_CHARS) bad('models: too long');
  for (const d of [m.digestA, m.digestB]) if (d !== undefined && (typeof d !== 'string' || !/^[0-9a-f]{64}$/.test(d))) bad('models: digest');
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) bad('seed');
  if (!isObject(part) || typeof part.kind !== 'string') return bad('part');
  switch (part.kind) {
    case 'layers':
    case 'neurons':
      break;
    case 'experts':
      if (!Array.isArray(part.layers) || part.layers.length > 4096 || !part.layers.every(isCount)) bad('experts: layers');
      if (part.rows !== undefined && !(typeof part.rows === 'number' && part.rows > 0 && part.rows < 1)) bad('experts: rows (a fraction in (0, 1))');
      break;
    case 'embeddings': {
      const plan = part.plan as Record<string, unknown> | undefined;
      if (!isObject(plan) || !isCount(plan.sharedTokens) || !isCount(plan.sameId) || !pairsOk(plan.chosen, 1 << 16)) bad('embeddings: plan');
      break;
    }
    case 'alignment.hidden':
      if (part.tokenPairs !== null && !pairsOk(part.tokenPairs, 1 << 16)) bad('alignment.hidden: tokenPairs');
      break;
    case 'alignment.cells': {
      const spec = part.spec as Record<string, unknown> | undefined;
      if (!isObject(spec)) return bad('alignment.cells: spec');
      if (typeof spec.group !== 'string' || !(CELL_GROUPS as readonly string[]).includes(spec.group)) bad('alignment.cells: group');
      if (!pairsOk(spec.pairs, 4096) || !pairsOk(spec.allPairs, 4096)) bad('alignment.cells: layer pairs');
      if (spec.tokenPairs !== null && !pairsOk(spec.tokenPairs, 1 << 16)) bad('alignment.cells: tokenPairs');
      if (typeof spec.seed !== 'number' || typeof spec.stream !== 'string' || spec.stream.length > 200) bad('alignment.cells: seed or stream');
      const problem = selectionProblem(spec.selection);
      if (problem) bad(`alignment.cells: ${problem}`);
      break;
    }
    case 'alignment.layers': {
      const problem = selectionProblem(part.selection);
      if (problem) bad(`alignment.layers: ${problem}`);
      break;
    }
    default:
      bad(`unknown kind '${String(part.kind)}'`);
  }
  return raw as unknown as ControlTask;
}

/** What is wrong with an untrusted selection of dimensions (a cells or layers task's), or null. */
function selectionProblem(selection: unknown): string | null {
  const sel = selection as Record<string, unknown> | undefined;
  const ints = (x: unknown) => Array.isArray(x) && x.length <= 4096 && x.every(isCount);
  if (!isObject(sel) || !ints(sel.a) || !ints(sel.b) || !Array.isArray(sel.sign) || !sel.sign.every((v) => v === 1 || v === -1)
    || (sel.a as number[]).length !== (sel.b as number[]).length || (sel.b as number[]).length !== sel.sign.length) return 'selection';
  const indices = [...(sel.a as number[]), ...(sel.b as number[])];
  // A rotated basis: the probe tokens, and the selection indexes them.
  if (sel.probes !== undefined && (!pairsOk(sel.probes, 4096) || indices.some((i) => i >= (sel.probes as unknown[]).length))) return 'probes';
  // A rotated basis from the models' own blocks: the probe plans, and the selection indexes their probes.
  if (sel.blocks !== undefined && (sel.probes !== undefined || !isBlockBases(sel.blocks, indices))) return 'blocks';
  return null;
}

function pairsOk(x: unknown, max: number): boolean {
  return Array.isArray(x) && x.length <= max && x.every((p) => Array.isArray(p) && p.length === 2 && isCount(p[0]) && isCount(p[1]));
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}
