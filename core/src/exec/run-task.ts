/**
 * Runs one task: streams each item's tensors in windows straight into the kernel's memory,
 * hashes the raw bytes and accumulates the moments. A bad tensor (a fault found in its bytes)
 * fails only its own item; a read that could not be served (ReadFailedError: ENOENT, EIO, a
 * timeout) fails the whole task, so that it is retried, on another worker in a cluster, instead
 * of ending as a per-tensor note under a verdict.
 */
import { bytesPerElement, elementCount } from '../checkpoint/dtype.ts';
import { isBadInput } from '../errors.ts';
import type { StreamingHash } from '../hash/content-hash.ts';
import type { RangeReader } from '../io/reader.ts';
import { blockScalesFrom, prepareOperand, type BlockScales } from '../kernels/decode.ts';
import type { PairKernel } from '../kernels/kernel.ts';
import { BLOCK } from '../kernels/wasm/source.ts';
import type { Task, TaskItem, TensorRef } from '../plan/plan.ts';
import { blockRange, type SamplePlan } from '../sample/blocks.ts';
import { emptyMoments, mergeMoments, type Moments } from '../stats/moments.ts';

export interface ItemResult {
  index: number;
  /** All pairs read (in sampled mode: the sampled blocks merged in block order). */
  moments: Moments | null;
  /** Sampled mode: the moments of each sampled block, in the plan's block order. */
  blocks: Moments[] | null;
  hashA: string | null;
  hashB: string | null;
  /** Why the item failed (file and reason), when it did. */
  error: string | null;
}

export interface TaskContext {
  kernel: PairKernel;
  reader: RangeReader;
  /** One hasher per side, or null when hashes are not wanted. */
  hashers: [StreamingHash, StreamingHash] | null;
  /** Elements per window (a multiple of the kernel block, so block boundaries never depend on it). */
  windowElements: number;
  /**
   * Read the next window while computing this one. Pays when a core is free to do the copy (one
   * thread on two cores); when every core computes, blocking reads avoid the hand-offs.
   */
  overlapReads: boolean;
}

/** 2 Mi elements (4 MiB of bf16 per side): large enough that each read amortizes its hand-off to
 * the thread pool, small enough to stay near the cache (measured by `npm run bench`). */
export const DEFAULT_WINDOW_ELEMENTS = 1 << 21;

export async function runTask(task: Task, ctx: TaskContext, onItem?: (bytes: number) => void): Promise<ItemResult[]> {
  if (ctx.windowElements % BLOCK !== 0) throw new Error(`window of ${ctx.windowElements} elements is not a multiple of the ${BLOCK}-element block`);
  const results: ItemResult[] = [];
  const ahead = ctx.overlapReads ? new PairsAhead(task.items, ctx) : null;
  try {
    for (let i = 0; i < task.items.length; i++) {
      results.push(await runItem(task.items[i]!, ctx, ahead?.take(i) ?? null));
      onItem?.((task.items[i]!.a?.byteLength ?? 0) + (task.items[i]!.b?.byteLength ?? 0));
    }
  } finally {
    // A read still in flight would write into windows the next task uses: let it land first.
    await ahead?.settle();
  }
  return results;
}

/**
 * Pairs read one item ahead: a pair that fits one window has nothing to overlap within itself,
 * so while it computes, the next such pair's bytes are read into the other half of the windows
 * (on libuv's pool). MoE layouts are thousands of expert tensors of about a window or less; on one
 * thread of two cores the reads then cost the second core's time instead of the kernel's. Only
 * pairs of AHEAD_FROM bytes or more a side: below that a blocking read costs less than a hand-off.
 */
const AHEAD_FROM = 256 << 10;

interface ReadAhead {
  rawA: Uint8Array;
  rawB: Uint8Array;
  /** Both sides' reads (rejected with the read's error: the item's own to classify). */
  read: Promise<void>;
}

class PairsAhead {
  private readonly eligible: boolean[];
  /** Elements of the task's widest such pair: each half of the windows holds one. */
  private readonly widest: number;
  private ordinal = 0;
  private next: { index: number; ahead: ReadAhead } | null = null;

  constructor(private readonly items: TaskItem[], private readonly ctx: TaskContext) {
    this.eligible = items.map((item) => {
      if (!item.compare || !item.a || !item.b || item.sample || !ctx.reader.readSync) return false;
      const n = elementCount(item.a.shape);
      return n > 0 && n <= ctx.windowElements && Math.min(item.a.byteLength, item.b.byteLength) >= AHEAD_FROM;
    });
    this.widest = Math.max(0, ...items.filter((_, i) => this.eligible[i]).map((item) => elementCount(item.a!.shape)));
    // Sized once for the task: a later windows() call asking no more keeps these buffers in place.
    if (this.widest > 0) ctx.kernel.windows(2 * this.widest);
  }

  /** Item i's bytes if they are being read ahead (starting them now if not), and the next item's read started. */
  take(i: number): ReadAhead | null {
    if (!this.eligible[i]) return null;
    const own = this.next?.index === i ? this.next.ahead : this.start(i);
    this.next = this.eligible[i + 1] ? { index: i + 1, ahead: this.start(i + 1) } : null;
    return own;
  }

  async settle(): Promise<void> {
    if (this.next) await Promise.allSettled([this.next.ahead.read]);
  }

  private start(i: number): ReadAhead {
    const { a, b } = this.items[i]!;
    const n = elementCount(a!.shape);
    const windows = this.ctx.kernel.windows(2 * this.widest);
    // Raw windows hold 4 bytes an element (the widest dtype read).
    const at = (this.ordinal++ % 2) * this.widest * 4;
    const rawA = windows.rawA.subarray(at, at + n * bytesPerElement(a!.dtype));
    const rawB = windows.rawB.subarray(at, at + n * bytesPerElement(b!.dtype));
    const read = bothSides(this.ctx.reader.read(a!.file, a!.offset, rawA), this.ctx.reader.read(b!.file, b!.offset, rawB));
    // Awaited by its item, or settled at the end; never an unhandled rejection meanwhile.
    read.catch(() => {});
    return { rawA, rawB, read };
  }
}

async function runItem(item: TaskItem, ctx: TaskContext, ahead: ReadAhead | null): Promise<ItemResult> {
  const result: ItemResult = { index: item.index, moments: null, blocks: null, hashA: null, hashB: null, error: null };
  try {
      if (item.compare && item.a && item.b && item.sample) {
        await compareSampled(item, item.a, item.b, item.sample, ctx, result);
      } else if (item.compare && item.a && item.b) {
        await compareStreams(item, item.a, item.b, ctx, result, ahead);
      } else {
        if (item.a && ctx.hashers) result.hashA = await hashOnly(item.a, ctx, 0);
        if (item.b && ctx.hashers) result.hashB = await hashOnly(item.b, ctx, 1);
      }
  } catch (err) {
    // Only faults in the input are the item's; read failures and bugs fail the task.
    if (!isBadInput(err)) throw err;
    result.error = err.message;
    result.moments = null;
    result.blocks = null;
  }
  return result;
}

/**
 * Streams a pair in windows with double buffering: while the kernel and the hashes work on one
 * window, the reader fills the next (on libuv's thread pool for pread), so reading overlaps
 * computing instead of adding to it. A pair of one window may come read ahead (`PairsAhead`).
 */
async function compareStreams(item: TaskItem, a: TensorRef, b: TensorRef, ctx: TaskContext, out: ItemResult, ahead: ReadAhead | null): Promise<void> {
  const { kernel, reader, hashers, windowElements } = ctx;
  const n = elementCount(a.shape);
  const sizeA = bytesPerElement(a.dtype);
  const sizeB = bytesPerElement(b.dtype);
  const scalesA = item.scalesA ? await readScales(item.scalesA, a, reader) : undefined;
  const scalesB = item.scalesB ? await readScales(item.scalesB, b, reader) : undefined;
  const perWindow = Math.min(windowElements, n);
  // Two slots of raw bytes per side; the f32 scratch of one slot serves decoding.
  const windows = kernel.windows(2 * perWindow);
  const slot = (k: number) => ahead ? ahead : ({
    rawA: windows.rawA.subarray((k % 2) * perWindow * 4, (k % 2) * perWindow * 4 + perWindow * 4),
    rawB: windows.rawB.subarray((k % 2) * perWindow * 4, (k % 2) * perWindow * 4 + perWindow * 4),
  });
  const windowsCount = Math.ceil(n / windowElements);
  const fill = (k: number) => {
    const first = k * windowElements;
    const count = Math.min(windowElements, n - first);
    const { rawA, rawB } = slot(k);
    return bothSides(
      reader.read(a.file, a.offset + first * sizeA, rawA.subarray(0, count * sizeA)),
      reader.read(b.file, b.offset + first * sizeB, rawB.subarray(0, count * sizeB)),
    );
  };
  const fillSync = (k: number) => {
    const first = k * windowElements;
    const count = Math.min(windowElements, n - first);
    const { rawA, rawB } = slot(k);
    reader.readSync!(a.file, a.offset + first * sizeA, rawA.subarray(0, count * sizeA));
    reader.readSync!(b.file, b.offset + first * sizeB, rawB.subarray(0, count * sizeB));
  };
  hashers?.[0].init();
  hashers?.[1].init();
  kernel.reset();
  // One window leaves nothing to overlap: an async read would only add its round trip (MoE layouts hold ~19k tensors of tens of KB).
  const overlap = !!ahead || (ctx.overlapReads && windowsCount > 1) || !reader.readSync;
  let pending: Promise<unknown> | null = ahead ? ahead.read : overlap ? fill(0) : null;
  try {
    for (let k = 0; k < windowsCount; k++) {
      if (overlap) {
        await pending;
        if (k + 1 < windowsCount) pending = fill(k + 1);
      } else {
        fillSync(k);
      }
      const first = k * windowElements;
      const count = Math.min(windowElements, n - first);
      const { rawA: slotA, rawB: slotB } = slot(k);
      const rawA = slotA.subarray(0, count * sizeA);
      const rawB = slotB.subarray(0, count * sizeB);
      hashers?.[0].update(rawA);
      hashers?.[1].update(rawB);
      const opA = prepareOperand(a.dtype, rawA, windows.f32A, count, first, scalesA);
      const opB = prepareOperand(b.dtype, rawB, windows.f32B, count, first, scalesB);
      kernel.accumulate(opA, opB, count);
    }
  } catch (err) {
    // A read still in flight would write into windows the next item uses: let it land first.
    await Promise.allSettled([pending]);
    throw err;
  }
  out.moments = kernel.result();
  if (hashers) {
    out.hashA = hashers[0].digest();
    out.hashB = hashers[1].digest();
  }
}

/**
 * Sampled mode: each chosen block of rows is one contiguous range per side, reduced to its own
 * moments; no content hash, since the tensor is not read whole. A hand-off to the thread pool
 * costs ~60–100 µs here against ~15 µs for a blocking read of 84 KiB, so blocks under 1 MiB are
 * read blocking; larger ones run PREFETCH blocks ahead on the pool.
 */
const PREFETCH = 4;
const BLOCKING_BELOW = 1 << 20;

async function compareSampled(item: TaskItem, a: TensorRef, b: TensorRef, sample: SamplePlan, ctx: TaskContext, out: ItemResult): Promise<void> {
  const { kernel, reader } = ctx;
  const sizeA = bytesPerElement(a.dtype);
  const sizeB = bytesPerElement(b.dtype);
  const scalesA = item.scalesA ? await readScales(item.scalesA, a, reader) : undefined;
  const scalesB = item.scalesB ? await readScales(item.scalesB, b, reader) : undefined;
  const maxCount = sample.rowsPerBlock * sample.cols;
  const blocking = !!reader.readSync && (!ctx.overlapReads || maxCount * Math.max(sizeA, sizeB) < BLOCKING_BELOW);
  const slots = blocking ? 1 : PREFETCH + 1;
  const windows = kernel.windows(slots * maxCount);
  const slot = (k: number, raw: Uint8Array, count: number, size: number) => raw.subarray((k % slots) * maxCount * 4, (k % slots) * maxCount * 4 + count * size);
  const fill = (k: number): Promise<unknown> => {
    const { first, count } = blockRange(sample, sample.blocks[k]!);
    if (blocking) {
      reader.readSync!(a.file, a.offset + first * sizeA, slot(k, windows.rawA, count, sizeA));
      reader.readSync!(b.file, b.offset + first * sizeB, slot(k, windows.rawB, count, sizeB));
      return Promise.resolve();
    }
    return bothSides(
      reader.read(a.file, a.offset + first * sizeA, slot(k, windows.rawA, count, sizeA)),
      reader.read(b.file, b.offset + first * sizeB, slot(k, windows.rawB, count, sizeB)),
    );
  };
  const pending: Promise<unknown>[] = [];
  for (let k = 0; k < Math.min(slots, sample.blocks.length); k++) pending.push(fill(k));
  const blocks: Moments[] = [];
  let merged = emptyMoments();
  try {
    for (let k = 0; k < sample.blocks.length; k++) {
      await pending[k];
      const { first, count } = blockRange(sample, sample.blocks[k]!);
      kernel.reset();
      kernel.accumulate(
        prepareOperand(a.dtype, slot(k, windows.rawA, count, sizeA), windows.f32A, count, first, scalesA),
        prepareOperand(b.dtype, slot(k, windows.rawB, count, sizeB), windows.f32B, count, first, scalesB),
        count,
      );
      const m = kernel.result();
      blocks.push(m);
      merged = mergeMoments(merged, m);
      // This slot is free again: start the read that will use it.
      if (k + slots < sample.blocks.length) pending.push(fill(k + slots));
    }
  } catch (err) {
    await Promise.allSettled(pending);
    throw err;
  }
  out.blocks = blocks;
  out.moments = merged;
}

/** Both sides' reads, settled before either failure is raised (neither may still be writing). */
async function bothSides(a: Promise<void>, b: Promise<void>): Promise<void> {
  const [x, y] = await Promise.allSettled([a, b]);
  if (x.status === 'rejected') throw x.reason;
  if (y.status === 'rejected') throw y.reason;
}

async function hashOnly(t: TensorRef, ctx: TaskContext, side: 0 | 1): Promise<string> {
  const hasher = ctx.hashers![side];
  const window = ctx.kernel.windows(ctx.windowElements).rawA;
  hasher.init();
  for (let at = 0; at < t.byteLength; at += window.length) {
    const view = window.subarray(0, Math.min(window.length, t.byteLength - at));
    await ctx.reader.read(t.file, t.offset + at, view);
    hasher.update(view);
  }
  return hasher.digest();
}

/** FP8 block scales are small (one float per 128×128 block): read whole. */
async function readScales(scales: TensorRef, weight: TensorRef, reader: RangeReader): Promise<BlockScales> {
  const bytes = new Uint8Array(scales.byteLength);
  await reader.read(scales.file, scales.offset, bytes);
  return blockScalesFrom(bytes, scales, weight);
}
