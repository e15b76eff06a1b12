/**
 * Partitions a comparison into tasks by layer and expert, balanced by bytes. A task is a list of
 * items (a matched tensor: hash both sides, compare when comparable) with absolute byte ranges, so
 * any executor (threads here, workers over NATS) can run it without the checkpoints' headers.
 * A tensor is never split: its moments and its content hash are computed in one pass, in order.
 */
import type { DType } from '../checkpoint/dtype.ts';
import type { TensorEntry } from '../checkpoint/folder.ts';
import type { MatchedTensor } from '../roles/match.ts';
import { planSample, sampledShare, type SamplePlan } from '../sample/blocks.ts';
import { planExpertStrata } from '../sample/experts.ts';
import { runSteps, type Steps } from '../steps.ts';

export interface TensorRef {
  file: string;
  offset: number;
  byteLength: number;
  dtype: DType;
  shape: number[];
}

export interface TaskItem {
  /** Index of the matched tensor in the comparison (results are merged by it, never by arrival). */
  index: number;
  a: TensorRef | null;
  b: TensorRef | null;
  scalesA: TensorRef | null;
  scalesB: TensorRef | null;
  /** Compare element by element (else only hash what is there). */
  compare: boolean;
  /** Read only these row blocks (sampled mode); null: the whole tensor. */
  sample: SamplePlan | null;
}

export interface Task {
  id: number;
  /** What the task covers, for progress displays: `layer 3`, `layer 3 experts 0-15`, `embedding`. */
  label: string;
  /** Bytes of checkpoint data the task reads (both sides). */
  bytes: number;
  items: TaskItem[];
}

export interface Plan {
  tasks: Task[];
  totalBytes: number;
}

export interface PlanOptions {
  /** Tasks are packed up to this many bytes (a larger tensor is a task of its own). */
  targetTaskBytes?: number;
  /**
   * Sampled mode: read this fraction of each large tensor, blocks drawn with this seed; routed
   * experts of one layer and role are sampled as one stratum (sample/experts.ts), and the experts
   * not drawn are not planned at all.
   */
  sample?: { fraction: number; seed: number };
}

export const DEFAULT_TASK_BYTES = 256 * 1024 * 1024;

/** Where a tensor's bytes are, as a task carries it (plans, the controls' cross pairs). */
export function tensorRef(t: TensorEntry): TensorRef {
  return { file: t.file, offset: t.offset, byteLength: t.byteLength, dtype: t.dtype as DType, shape: t.shape };
}

const ref = (t: TensorEntry | null): TensorRef | null => t && tensorRef(t);

function itemBytes(m: MatchedTensor, sample: SamplePlan | null): number {
  const share = sampledShare(sample);
  return Math.round(share * ((m.a?.byteLength ?? 0) + (m.b?.byteLength ?? 0))) + (m.scalesA?.byteLength ?? 0) + (m.scalesB?.byteLength ?? 0);
}

export { sampledElements } from '../sample/blocks.ts';

/** The unit tasks are cut along: one layer's dense part, one expert of one layer, or one top-level tensor. */
function unitKey(m: MatchedTensor): string {
  if (m.layer === null) return `tensor ${m.name ?? m.nameB}`;
  return m.expert === null ? `layer ${m.layer}` : `layer ${m.layer} expert ${m.expert}`;
}

export function planTasks(matched: MatchedTensor[], options: PlanOptions = {}): Plan {
  return runSteps(planTasksSteps(matched, options));
}

/** Tensors planned between two steps. */
const STEP_TENSORS = 256;

/** The same, in steps of a few hundred tensors (~30 ms in all at 19k tensors a side). */
export function* planTasksSteps(matched: MatchedTensor[], options: PlanOptions = {}): Steps<Plan> {
  const target = options.targetTaskBytes ?? DEFAULT_TASK_BYTES;
  const units: { label: string; layer: number | null; items: TaskItem[]; bytes: number }[] = [];
  const byKey = new Map<string, (typeof units)[number]>();
  // Sampled experts: one with blocks drawn reads those; one with none is not read.
  const strata = options.sample ? planExpertStrata(matched, options.sample.fraction, options.sample.seed) : [];
  const stratumPlan = new Map<number, SamplePlan>();
  const notDrawn = new Set<number>();
  for (const s of strata) {
    for (const i of s.members) if (!s.within.has(i)) notDrawn.add(i);
    for (const [i, plan] of s.within) stratumPlan.set(i, plan);
  }
  yield;
  for (let index = 0; index < matched.length; index++) {
    if (index > 0 && index % STEP_TENSORS === 0) yield;
    const m = matched[index]!;
    if (notDrawn.has(index)) continue;
    const key = unitKey(m);
    let unit = byKey.get(key);
    if (!unit) {
      unit = { label: m.layer === null ? (m.name ?? m.nameB)! : key, layer: m.layer, items: [], bytes: 0 };
      byKey.set(key, unit);
      units.push(unit);
    }
    const sample = stratumPlan.has(index) ? stratumPlan.get(index)!
      : options.sample && m.comparable && m.a ? planSample(m.a.shape, options.sample.fraction, options.sample.seed, m.name!) : null;
    unit.items.push({ index, a: ref(m.a), b: ref(m.b), scalesA: ref(m.scalesA), scalesB: ref(m.scalesB), compare: m.comparable, sample });
    unit.bytes += itemBytes(m, sample);
  }
  yield;

  // Consecutive units of the same layer (its experts) are packed together up to the target size.
  const tasks: Task[] = [];
  let open: { labels: string[]; layer: number | null; items: TaskItem[]; bytes: number } | null = null;
  const close = () => {
    if (!open) return;
    tasks.push({ id: tasks.length, label: packLabel(open.labels), bytes: open.bytes, items: open.items });
    open = null;
  };
  for (const unit of units) {
    if (open && (open.layer !== unit.layer || unit.layer === null || open.bytes + unit.bytes > target)) close();
    open ??= { labels: [], layer: unit.layer, items: [], bytes: 0 };
    open.labels.push(unit.label);
    open.items.push(...unit.items);
    open.bytes += unit.bytes;
  }
  close();
  return { tasks, totalBytes: tasks.reduce((s, t) => s + t.bytes, 0) };
}

function packLabel(labels: string[]): string {
  if (labels.length === 1) return labels[0]!;
  const experts = labels.map((l) => /^layer (\d+) expert (\d+)$/.exec(l));
  if (experts.every(Boolean)) return `layer ${experts[0]![1]} experts ${experts[0]![2]}-${experts.at(-1)![2]}`;
  return `${labels[0]} … ${labels.at(-1)}`;
}
