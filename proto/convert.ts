/**
 * The one place core types and wire messages meet: plan tasks and item results to and from the
 * protobuf messages that travel on NATS. Absent values are empty strings or unset messages on the
 * wire and null in core; numbers are float64 both sides, so a result crosses the wire bit for bit.
 */
import type { DType } from '../core/src/checkpoint/index.ts';
import type { ItemResult as CoreItemResult } from '../core/src/exec/index.ts';
import type { Task as CoreTask, TaskItem as CoreTaskItem, TensorRef as CoreTensorRef } from '../core/src/plan/index.ts';
import type { Moments as CoreMoments } from '../core/src/stats/index.ts';
import { ItemResult, Moments, Task, TaskItem, TaskResult, TensorRef } from './lineage/v1/lineage.ts';

/** What a worker needs besides the task itself: the job it belongs to and how to compute. */
export interface TaskEnvelope {
  jobId: string;
  task: CoreTask;
  /** "xxh3-128", "sha256" or "none". */
  hash: string;
  /** A kernel name, or "auto" for the worker's own choice. */
  kernel: string;
  /** A control task as JSON (core/src/controls/tasks.ts); absent for a task of the weights pass. */
  control?: string;
}

export function tensorRefToProto(ref: CoreTensorRef): TensorRef {
  return { file: ref.file, offset: ref.offset, byteLength: ref.byteLength, dtype: ref.dtype, shape: [...ref.shape] };
}

export function tensorRefFromProto(ref: TensorRef): CoreTensorRef {
  return { file: ref.file, offset: ref.offset, byteLength: ref.byteLength, dtype: ref.dtype as DType, shape: [...ref.shape] };
}

const optionalRef = (ref: CoreTensorRef | null) => (ref ? tensorRefToProto(ref) : undefined);
const coreRef = (ref: TensorRef | undefined) => (ref ? tensorRefFromProto(ref) : null);

export function taskItemToProto(item: CoreTaskItem): TaskItem {
  return {
    sample: item.sample ? { cols: item.sample.cols, rows: item.sample.rows, rowsPerBlock: item.sample.rowsPerBlock, totalBlocks: item.sample.totalBlocks, blocks: item.sample.blocks } : undefined,
    index: item.index,
    a: optionalRef(item.a), b: optionalRef(item.b),
    scalesA: optionalRef(item.scalesA), scalesB: optionalRef(item.scalesB),
    compare: item.compare,
  };
}

export function taskItemFromProto(item: TaskItem): CoreTaskItem {
  return {
    index: item.index,
    a: coreRef(item.a), b: coreRef(item.b),
    scalesA: coreRef(item.scalesA), scalesB: coreRef(item.scalesB),
    compare: item.compare,
    sample: item.sample ? { cols: item.sample.cols, rows: item.sample.rows, rowsPerBlock: item.sample.rowsPerBlock, totalBlocks: item.sample.totalBlocks, blocks: item.sample.blocks } : null,
  };
}

export function taskToProto(envelope: TaskEnvelope): Task {
  const { jobId, task, hash, kernel } = envelope;
  return { jobId, taskId: task.id, label: task.label, bytes: task.bytes, items: task.items.map(taskItemToProto), hash, kernel, control: envelope.control ?? '' };
}

export function taskFromProto(message: Task): TaskEnvelope {
  return {
    jobId: message.jobId,
    task: { id: message.taskId, label: message.label, bytes: message.bytes, items: message.items.map(taskItemFromProto) },
    hash: message.hash,
    kernel: message.kernel,
    ...(message.control ? { control: message.control } : {}),
  };
}

export function encodeTask(envelope: TaskEnvelope): Uint8Array {
  return Task.encode(taskToProto(envelope)).finish();
}

export function decodeTask(bytes: Uint8Array): TaskEnvelope {
  return taskFromProto(Task.decode(bytes));
}

export function momentsToProto(m: CoreMoments): Moments {
  return {
    n: m.n, meanA: m.meanA, meanB: m.meanB, m2a: m.m2a, m2b: m.m2b, cab: m.cab, sdd: m.sdd, maxAbsDiff: m.maxAbsDiff,
    nanA: m.nanA, infA: m.infA, nanB: m.nanB, infB: m.infB, excluded: m.excluded,
  };
}

export function momentsFromProto(m: Moments): CoreMoments {
  return {
    n: m.n, meanA: m.meanA, meanB: m.meanB, m2a: m.m2a, m2b: m.m2b, cab: m.cab, sdd: m.sdd, maxAbsDiff: m.maxAbsDiff,
    nanA: m.nanA, infA: m.infA, nanB: m.nanB, infB: m.infB, excluded: m.excluded,
  };
}

export function itemResultToProto(r: CoreItemResult): ItemResult {
  return {
    index: r.index,
    moments: r.moments ? momentsToProto(r.moments) : undefined,
    blocks: r.blocks ? r.blocks.map(momentsToProto) : [],
    hashA: r.hashA ?? '', hashB: r.hashB ?? '', error: r.error ?? '',
  };
}

export function itemResultFromProto(r: ItemResult): CoreItemResult {
  return {
    index: r.index,
    moments: r.moments ? momentsFromProto(r.moments) : null,
    // An exact item carries no blocks; a sampled one at least one.
    blocks: r.blocks.length ? r.blocks.map(momentsFromProto) : null,
    hashA: r.hashA || null, hashB: r.hashB || null, error: r.error || null,
  };
}

/** A task's outcome as it travels on the results stream. */
export interface TaskOutcome {
  jobId: string;
  taskId: number;
  results: CoreItemResult[];
  worker: string;
  /** Set when the whole task failed (deterministically, or after its last delivery). */
  error: string | null;
  seconds: number;
  kernel: string;
  attempt: number;
  /** A control task's answer, gzip-compressed JSON (controls/wire.ts); absent for the weights pass and for a failed task. */
  controlResult?: Uint8Array;
  /** What the task's HTTP readers fetched (remote models), as core/src/io/read-log-wire.ts encodes it; absent when it read no URL. Untrusted until checked. */
  readLog?: Uint8Array;
  /** This delivery failed and the task went back on the queue: not the task's outcome, only `error` and the delivery's `readLog`. */
  retrying?: boolean;
}

export function encodeTaskResult(o: TaskOutcome): Uint8Array {
  return TaskResult.encode({
    jobId: o.jobId, taskId: o.taskId, results: o.results.map(itemResultToProto), worker: o.worker,
    error: o.error ?? '', seconds: o.seconds, kernel: o.kernel, attempt: o.attempt, controlResult: o.controlResult ?? new Uint8Array(0),
    readLog: o.readLog ?? new Uint8Array(0), retrying: o.retrying ?? false,
  }).finish();
}

export function decodeTaskResult(bytes: Uint8Array): TaskOutcome {
  const m = TaskResult.decode(bytes);
  return {
    jobId: m.jobId, taskId: m.taskId, results: m.results.map(itemResultFromProto), worker: m.worker,
    error: m.error || null, seconds: m.seconds, kernel: m.kernel, attempt: m.attempt,
    ...(m.controlResult.length ? { controlResult: m.controlResult } : {}),
    ...(m.readLog.length ? { readLog: m.readLog } : {}),
    ...(m.retrying ? { retrying: true } : {}),
  };
}
