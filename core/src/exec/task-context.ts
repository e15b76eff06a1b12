/** Builds what a task needs to run (kernel, reader, hashers) in the thread that runs it. */
import { createStreamingHash, type HashAlgorithm } from '../hash/content-hash.ts';
import { PreadReader } from '../io/pread.ts';
import type { RangeReader } from '../io/reader.ts';
import type { HttpReadOptions } from '../io/http-client.ts';
import type { KernelName } from '../kernels/kernel.ts';
import { createKernel } from '../kernels/select.ts';
import type { TaskContext } from './run-task.ts';

export interface ContextOptions {
  kernel: KernelName;
  reader: 'pread' | 'mmap';
  hash: HashAlgorithm | 'none';
  windowElements: number;
  overlapReads: boolean;
  gpuMode?: string;
  /**
   * Set when a plan may name http(s):// files (remote checkpoints): reads are then routed by
   * scheme, remote ones over HTTP Range requests with these settings (token, limits, log folder).
   */
  remote?: HttpReadOptions;
}

async function createReader(kind: 'pread' | 'mmap'): Promise<RangeReader> {
  if (kind === 'pread') return new PreadReader();
  const io = (await import('../io/index.ts')) as { createReader(kind: 'mmap'): RangeReader };
  return io.createReader('mmap');
}

/** Loaded only when a plan may hold remote files, so local runs do not pay for the HTTP modules. */
async function routed(local: RangeReader, remote: HttpReadOptions): Promise<RangeReader> {
  const { RoutingReader } = await import('../io/routing.ts');
  return new RoutingReader(local, remote);
}

export async function createTaskContext(options: ContextOptions): Promise<TaskContext> {
  const hashers = options.hash === 'none'
    ? null
    : ([await createStreamingHash(options.hash), await createStreamingHash(options.hash)] as [Awaited<ReturnType<typeof createStreamingHash>>, Awaited<ReturnType<typeof createStreamingHash>>]);
  return {
    kernel: await createKernel(options.kernel, { gpuMode: options.gpuMode }),
    reader: options.remote ? await routed(await createReader(options.reader), options.remote) : await createReader(options.reader),
    hashers,
    windowElements: options.windowElements,
    overlapReads: options.overlapReads,
  };
}

export function disposeTaskContext(ctx: TaskContext): void {
  ctx.reader.close();
  ctx.kernel.dispose();
}
