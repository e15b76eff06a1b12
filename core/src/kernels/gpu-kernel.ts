/**
 * The gpu.js kernel: the GPU computes shifted partial sums per cell of CELL element pairs in
 * float32, and the CPU merges the cells' centered moments in float64, in cell order.
 *
 * Numerics (same scheme as the WASM kernel, see wasm/source.ts): inside a cell every value is
 * shifted by the cell's first element, so squares of norm vectors near 1.0 do not cancel; each
 * GPU thread sums one statistic of one cell over LANES accumulators of CELL / LANES terms each
 * (float32 rounding stays near 1e-7) and adds them pairwise. A cell whose sums are not finite
 * (a NaN or Inf in it, or float32 overflow) is redone on the CPU by `blockMoments`, which counts
 * NaN/Inf and leaves those pairs out; so is the tail of fewer than CELL pairs. (WGSL and GLSL
 * do not promise that NaN and Inf propagate; GPUs do in practice, and bench/gpu-check checks
 * it.) The order of terms inside a thread is fixed, so results are deterministic.
 *
 * gpu.js cannot read 16-bit data: bf16 is widened to float32 here. Its webasm and headless-gl
 * backends misread inputs past 2^24 elements (float indices), so no kernel call takes more than
 * MAX_CHUNK elements. WebGPU readback is asynchronous while PairKernel is synchronous: the
 * WebGPU backend runs on a worker thread that the caller blocks on (Atomics.wait), with the
 * windows in shared memory so the worker reads them without a copy.
 */
import { createRequire } from 'node:module';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { blockMoments, emptyMoments, type Moments } from '../stats/moments.ts';
import type { KernelWindows, Layout, PairKernel } from './kernel.ts';

/** Element pairs per output cell (one thread per statistic and cell). */
export const CELL = 128;
/** Most elements one kernel call reads from one input. */
export const MAX_CHUNK = 1 << 24;
/** Accumulators per thread: 16 terms each, as in the WASM kernel's f32x4 sub-blocks. */
const LANES = 8;
/** Rows of the kernel's output: Σu, Σv, Σu², Σv², Σuv, Σ(a−b)², max|a−b| (u = a − a₀, v = b − b₀). */
const STATS = 7;

export type GpuMode = 'auto' | 'gpu' | 'cpu' | 'webasm' | 'headlessgl' | 'webgl' | 'webgl2' | 'webgpu';

export interface GpuProbe {
  /** gpu.js loads and has some backend (perhaps only the CPU). */
  available: boolean;
  /** The best backend found: webgpu (only when the probe asked for it), headlessgl, or what gpu.js picks ('webasm', 'cpu'). */
  backend: string;
  /** That backend runs on a hardware GPU (not gpu.js's CPU or WebAssembly modes, not a software renderer). */
  real: boolean;
  /** Why no real GPU backend is usable, when it is not. */
  reason?: string;
  /** The adapter or renderer, when known. */
  device?: string;
}

export interface GpuKernelOptions {
  /** gpu.js backend; 'auto' (default) takes the probed one (headless-gl on a hardware renderer, else what gpu.js picks; never WebGPU: see probe). */
  mode?: GpuMode;
  /** Run gpu.js on a worker thread the caller blocks on. WebGPU requires it; default only there. */
  thread?: 'main' | 'worker';
  /** Longest wait for the worker (starting, or one kernel call). */
  timeoutMs?: number;
  /** Flags for Dawn's `create()` (WebGPU only), e.g. 'backend=vulkan'. */
  dawnFlags?: string[];
}

/** Builds the kernel's source: gpu.js compiles this JavaScript to GLSL, WGSL, WebAssembly or JS. */
function kernelSource(): string {
  const lanes = Array.from({ length: LANES }, (_, k) => k);
  const at = (arr: string, k: number) => (k === 0 ? `${arr}[i]` : `${arr}[i + ${k}]`);
  const loop = (term: (k: number) => string) =>
    `for (let j = 0; j < ${CELL / LANES}; j++) {\n      const i = base + j * ${LANES};\n${lanes.map((k) => `      ${term(k)}`).join('\n')}\n    }`;
  const terms: Array<(k: number) => string> = [
    (k) => `r${k} += ${at('a', k)} - ka;`,
    (k) => `r${k} += ${at('b', k)} - kb;`,
    (k) => `const u${k} = ${at('a', k)} - ka; r${k} += u${k} * u${k};`,
    (k) => `const v${k} = ${at('b', k)} - kb; r${k} += v${k} * v${k};`,
    (k) => `r${k} += (${at('a', k)} - ka) * (${at('b', k)} - kb);`,
    (k) => `const d${k} = ${at('a', k)} - ${at('b', k)}; r${k} += d${k} * d${k};`,
    (k) => `r${k} = Math.max(r${k}, Math.abs(${at('a', k)} - ${at('b', k)}));`,
  ];
  const branches = terms.map((term, s) => `${s === 0 ? 'if' : 'else if'} (s == ${s}) {\n    ${loop(term)}\n  }`).join(' ');
  const pairwise = (op: (x: string, y: string) => string, names: string[]): string =>
    names.length === 1 ? names[0]! : op(pairwise(op, names.slice(0, names.length / 2)), pairwise(op, names.slice(names.length / 2)));
  const names = lanes.map((k) => `r${k}`);
  return `function (a, b, cells) {
  const c = this.thread.x;
  const s = this.thread.y;
  if (c >= cells) { return 0; }
  const base = c * ${CELL};
  const ka = a[base];
  const kb = b[base];
  ${lanes.map((k) => `let r${k} = 0;`).join(' ')}
  ${branches}
  if (s == ${STATS - 1}) { return ${pairwise((x, y) => `Math.max(${x}, ${y})`, names)}; }
  return ${pairwise((x, y) => `(${x} + ${y})`, names)};
}`;
}

const KERNEL_SETTINGS = { output: [1, STATS], dynamicOutput: true, dynamicArguments: true, precision: 'single', tactic: 'precision' };

// ---------------------------------------------------------------------------------------------
// Loading gpu.js (an optional dependency) without making this module depend on it.

interface GpuJsKernel {
  (...args: unknown[]): unknown;
  setOutput(output: number[]): unknown;
  kernel?: { constructor: { mode?: string } };
}
interface GpuJsInstance {
  Kernel?: { mode?: string };
  createKernel(source: string, settings: object): GpuJsKernel;
  destroy(): unknown;
}
interface GpuJsModule {
  GPU: new (settings: { mode: string }) => GpuJsInstance;
  HeadlessGLKernel: { isSupported: boolean };
}

const here = createRequire(import.meta.url);

function loadGpuJs(): { gpujs: GpuJsModule; entry: string } | { error: string } {
  try {
    const entry = here.resolve('gpu.js');
    return { gpujs: here(entry) as GpuJsModule, entry };
  } catch (error) {
    return { error: `gpu.js cannot be loaded (${firstLine(error)})` };
  }
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0]!;
}

// ---------------------------------------------------------------------------------------------
// The worker thread: plain JavaScript (no TypeScript loader there), answering one request at a
// time through a MessagePort and waking the blocked caller with Atomics.notify.

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { pathToFileURL } = require('node:url');
const { signal, port, mode, gpuJsEntry, webgpuEntry, source, settings, probeOnly, dawnFlags, stats } = workerData;
function reply(message, transfer) {
  port.postMessage(message, transfer || []);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}
// id: the request answered (0: the start); none: the worker broke outside any request.
const fail = (e, id) => reply({ id, ok: false, error: String((e && e.stack) || e) });
process.on('uncaughtException', (e) => fail(e));
process.on('unhandledRejection', (e) => fail(e));
(async () => {
  let adapter = null;
  if (mode === 'webgpu') {
    const { create, globals } = await import(pathToFileURL(webgpuEntry).href);
    Object.assign(globalThis, globals);
    // Dawn's Node binding rejects a function for GPUDevice.onuncapturederror ("invalid value to
    // onuncapturederror", seen on an H200), and gpu.js sets one on its device: the kernel then
    // never runs. The handler is kept in JavaScript instead; errors are caught by the error scopes
    // around each call below.
    if (globals.GPUDevice && globals.GPUDevice.prototype) {
      const handlers = new WeakMap();
      Object.defineProperty(globals.GPUDevice.prototype, 'onuncapturederror', {
        configurable: true, get() { return handlers.get(this) || null; }, set(fn) { handlers.set(this, fn); },
      });
    }
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: create(dawnFlags) }, configurable: true, writable: true });
    const found = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!found) throw new Error('Dawn found no WebGPU adapter');
    const info = found.info || {};
    adapter = {
      vendor: info.vendor || '', architecture: info.architecture || '', device: info.device || '', description: info.description || '',
      fallback: Boolean(found.isFallbackAdapter || info.isFallbackAdapter),
    };
  }
  if (probeOnly) return reply({ id: 0, ok: true, adapter });
  const { GPU, WebGPUContext } = require(gpuJsEntry);
  const gpu = new GPU({ mode });
  const kernel = gpu.createKernel(source, settings);
  const SCOPES = ['validation', 'out-of-memory', 'internal'];
  port.on('message', async (req) => {
    try {
      const x = new Float32Array(req.bufferA, req.offsetA, req.length);
      const y = new Float32Array(req.bufferB, req.offsetB, req.length);
      kernel.setOutput([req.cells, stats]);
      // WebGPU reports a failed command only to an error scope (or the device's handler): a kernel
      // whose buffers were refused would otherwise answer zeros.
      const device = mode === 'webgpu' ? (await WebGPUContext.acquire()).device : null;
      if (device) for (const scope of SCOPES) device.pushErrorScope(scope);
      const rows = await kernel(x, y, req.cells);
      if (device) {
        const errors = [];
        for (let i = 0; i < SCOPES.length; i++) { const e = await device.popErrorScope(); if (e) errors.push(e.message); }
        if (errors.length) throw new Error('WebGPU error: ' + errors.join('; '));
      }
      const flat = new Float32Array(stats * req.cells);
      for (let s = 0; s < stats; s++) flat.set(rows[s].subarray(0, req.cells), s * req.cells);
      const backend = (kernel.kernel && kernel.kernel.constructor.mode) || mode;
      reply({ id: req.id, ok: true, partials: flat, backend }, [flat.buffer]);
    } catch (e) { fail(e, req.id); }
  });
  reply({ id: 0, ok: true, adapter, backend: (gpu.Kernel && gpu.Kernel.mode) || mode });
})().catch((e) => fail(e, 0));
`;

interface WorkerReply {
  id?: number;
  ok: boolean;
  error?: string;
  adapter?: { vendor: string; architecture: string; device: string; description: string; fallback: boolean } | null;
  backend?: string;
  partials?: Float32Array;
}

/** A worker thread the caller talks to synchronously. */
class BlockingWorker {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private lastId = 0;
  private closed = false;
  /** The worker's first message (ready, or why it could not start). */
  readonly greeting: WorkerReply;

  constructor(setup: Record<string, unknown>, private readonly timeoutMs: number) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ...setup, signal: this.signal, port: port2 }, transferList: [port2] });
    this.worker.unref();
    this.greeting = this.wait('start', 0);
  }

  call(request: Record<string, unknown>): WorkerReply {
    if (this.closed) throw new Error('gpu.js worker: already closed');
    const id = ++this.lastId;
    Atomics.store(this.signal, 0, 0);
    this.port.postMessage({ ...request, id });
    return this.wait('kernel call', id);
  }

  /** Blocks until the reply to request `id` (or a failure outside any request) arrives. */
  private wait(what: string, id: number): WorkerReply {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0 || Atomics.wait(this.signal, 0, 0, left) === 'timed-out') {
        this.close();
        throw new Error(`gpu.js worker: no answer to ${what} within ${this.timeoutMs} ms`);
      }
      // Reset before draining: a reply posted after the drain sets the signal again.
      Atomics.store(this.signal, 0, 0);
      for (let got = receiveMessageOnPort(this.port); got; got = receiveMessageOnPort(this.port)) {
        const reply = got.message as WorkerReply;
        if (reply.id === id || reply.id === undefined) return reply;
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.port.close();
    void this.worker.terminate();
  }
}

function webgpuEntry(gpuJsEntry: string): string {
  return createRequire(gpuJsEntry).resolve('webgpu');
}

// ---------------------------------------------------------------------------------------------
// Runners: compute the partial sums of `cells` full cells of x and y (each ≤ MAX_CHUNK elements).
// The result is flat: statistic s of cell c at s * cells + c.

interface Runner {
  readonly backend: string;
  readonly shared: boolean;
  run(x: Float32Array, y: Float32Array, cells: number): Float32Array;
  close(): void;
}

class MainThreadRunner implements Runner {
  readonly shared = false;
  backend: string;
  private readonly gpu: GpuJsInstance;
  private readonly kernel: GpuJsKernel;

  constructor(gpujs: GpuJsModule, mode: string) {
    this.gpu = new gpujs.GPU({ mode });
    this.backend = this.gpu.Kernel?.mode ?? mode;
    this.kernel = this.gpu.createKernel(kernelSource(), KERNEL_SETTINGS);
  }

  run(x: Float32Array, y: Float32Array, cells: number): Float32Array {
    this.kernel.setOutput([cells, STATS]);
    const rows = this.kernel(x, y, cells);
    if (rows instanceof Promise) throw new Error(`gpu.js backend ${this.backend} is asynchronous: use thread 'worker'`);
    this.backend = this.kernel.kernel?.constructor.mode ?? this.backend;
    const flat = new Float32Array(STATS * cells);
    for (let s = 0; s < STATS; s++) flat.set((rows as Float32Array[])[s]!.subarray(0, cells), s * cells);
    return flat;
  }

  close(): void {
    void this.gpu.destroy();
  }
}

class WorkerRunner implements Runner {
  readonly shared = true;
  backend: string;
  private readonly worker: BlockingWorker;

  constructor(entry: string, mode: string, timeoutMs: number, dawnFlags: string[]) {
    this.worker = new BlockingWorker({
      mode, gpuJsEntry: entry, webgpuEntry: mode === 'webgpu' ? webgpuEntry(entry) : null,
      source: kernelSource(), settings: KERNEL_SETTINGS, probeOnly: false, dawnFlags, stats: STATS,
    }, timeoutMs);
    const hello = this.worker.greeting;
    if (!hello.ok) {
      this.worker.close();
      throw new Error(`gpu.js ${mode} backend cannot start: ${hello.error}`);
    }
    this.backend = hello.backend ?? mode;
  }

  run(x: Float32Array, y: Float32Array, cells: number): Float32Array {
    const answer = this.worker.call({
      bufferA: x.buffer, offsetA: x.byteOffset, bufferB: y.buffer, offsetB: y.byteOffset, length: cells * CELL, cells,
    });
    if (!answer.ok || !answer.partials) throw new Error(`gpu.js ${this.backend} kernel failed: ${answer.error}`);
    this.backend = answer.backend ?? this.backend;
    return answer.partials;
  }

  close(): void {
    this.worker.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Float64 merge of cells, with the arithmetic of mergeMoments (in the same order of operations)
// but without an object per cell: a chunk of 2^24 elements has 131072 cells.

export class MomentsAccumulator {
  private m: Moments = emptyMoments();

  /** Merges a block given as sums shifted by (ka, kb) over nb finite pairs. */
  addShifted(nb: number, ka: number, kb: number, s1a: number, s1b: number, s2a: number, s2b: number, sab: number, sdd: number, maxAbsDiff: number): void {
    this.addCentered(nb, ka + s1a / nb, kb + s1b / nb, s2a - (s1a * s1a) / nb, s2b - (s1b * s1b) / nb, sab - (s1a * s1b) / nb, sdd, maxAbsDiff);
  }

  /** x ⊕ y as in mergeMoments, counts included. */
  add(y: Moments): void {
    const x = this.m;
    x.nanA += y.nanA; x.infA += y.infA; x.nanB += y.nanB; x.infB += y.infB; x.excluded += y.excluded;
    this.addCentered(y.n, y.meanA, y.meanB, y.m2a, y.m2b, y.cab, y.sdd, y.maxAbsDiff);
  }

  private addCentered(nb: number, meanA: number, meanB: number, m2a: number, m2b: number, cab: number, sdd: number, maxAbsDiff: number): void {
    const x = this.m;
    x.sdd = x.sdd + sdd;
    x.maxAbsDiff = Math.max(x.maxAbsDiff, maxAbsDiff);
    if (nb === 0) return;
    if (x.n === 0) {
      x.n = nb; x.meanA = meanA; x.meanB = meanB; x.m2a = m2a; x.m2b = m2b; x.cab = cab;
      return;
    }
    const n = x.n + nb;
    const da = meanA - x.meanA;
    const db = meanB - x.meanB;
    const f = (x.n * nb) / n;
    x.n = n;
    x.meanA = x.meanA + (da * nb) / n;
    x.meanB = x.meanB + (db * nb) / n;
    x.m2a = x.m2a + m2a + da * da * f;
    x.m2b = x.m2b + m2b + db * db * f;
    x.cab = x.cab + cab + da * db * f;
  }

  result(): Moments {
    return { ...this.m };
  }
}

// ---------------------------------------------------------------------------------------------

const probed = new Map<boolean, GpuProbe>();

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|microsoft basic/i;

export class GpuKernel implements PairKernel {
  readonly name = 'gpu.js' as const;
  /** The gpu.js mode asked for (after 'auto' is resolved). */
  readonly mode: string;
  private readonly runner: Runner;
  private buffers: KernelWindows | null = null;
  private capacity = 0;
  private scratch: { A: Float32Array | null; B: Float32Array | null } = { A: null, B: null };
  private state = new MomentsAccumulator();
  /** Kernel calls, the most elements one call read, and cells redone on the CPU (NaN, Inf, overflow). */
  readonly counters = { kernelCalls: 0, largestCall: 0, cellsOnCpu: 0 };

  /**
   * Whether gpu.js has a real GPU backend here: with `webgpu`, WebGPU through Dawn (asked on a
   * worker thread, since adapters answer asynchronously); else, or then, headless-gl on a hardware
   * renderer. Cached per process.
   *
   * WebGPU is asked only when the caller says so (bench/gpu-check), never for mode 'auto': Dawn's
   * Node binding (webgpu 0.2.9) does not survive threads that load it coming and going. On an H200,
   * `lineage compare --kernel gpu.js` (the probe's thread, then a kernel thread per executor slot)
   * aborted the process: on two slots `napi_open_escapable_handle_scope` from `GPUAdapter::Bind`
   * in the second thread's requestAdapter, on one `napi_throw` from Dawn's event pump. bench/gpu-check
   * (one probe thread, then one kernel thread) ran. So the executor does not use WebGPU.
   */
  static probe(options: { timeoutMs?: number; dawnFlags?: string[]; refresh?: boolean; webgpu?: boolean } = {}): GpuProbe {
    const webgpu = options.webgpu ?? false;
    const cached = probed.get(webgpu);
    if (cached && !options.refresh) return cached;
    const answer = GpuKernel.probeNow(webgpu, options);
    probed.set(webgpu, answer);
    return answer;
  }

  private static probeNow(webgpu: boolean, options: { timeoutMs?: number; dawnFlags?: string[] }): GpuProbe {
    const loaded = loadGpuJs();
    if ('error' in loaded) return { available: false, backend: 'none', real: false, reason: loaded.error };
    const why: string[] = [];

    if (webgpu) try {
      const worker = new BlockingWorker({
        mode: 'webgpu', gpuJsEntry: loaded.entry, webgpuEntry: webgpuEntry(loaded.entry), probeOnly: true, dawnFlags: options.dawnFlags ?? [],
      }, options.timeoutMs ?? 30_000);
      const answer = worker.greeting;
      worker.close();
      const adapter = answer.adapter;
      if (!answer.ok || !adapter) why.push(`webgpu: ${firstLine(answer.error ?? 'no adapter')}`);
      else {
        const device = [adapter.vendor, adapter.architecture, adapter.device, adapter.description].filter(Boolean).join(' ');
        if (!adapter.fallback && !SOFTWARE.test(device)) return { available: true, backend: 'webgpu', real: true, device };
        why.push(`webgpu: software adapter (${device})`);
      }
    } catch (error) {
      why.push(`webgpu: ${firstLine(error)}`);
    }

    const renderer = headlessGlRenderer(loaded.gpujs, loaded.entry);
    if (renderer.real) return { available: true, backend: 'headlessgl', real: true, device: renderer.device };
    why.push(`headlessgl: ${renderer.reason}`);

    const gpu = new loaded.gpujs.GPU({ mode: 'gpu' });
    const backend = gpu.Kernel?.mode ?? 'cpu';
    void gpu.destroy();
    return { available: true, backend, real: false, reason: why.join('; ') };
  }

  constructor(options: GpuKernelOptions = {}) {
    const loaded = loadGpuJs();
    if ('error' in loaded) throw new Error(loaded.error);
    let mode: string = options.mode ?? 'auto';
    if (mode === 'auto') {
      const probe = GpuKernel.probe({ dawnFlags: options.dawnFlags });
      mode = probe.real ? probe.backend : 'gpu';
    }
    this.mode = mode;
    const thread = options.thread ?? (mode === 'webgpu' ? 'worker' : 'main');
    if (mode === 'webgpu' && thread === 'main') throw new Error('gpu.js webgpu mode is asynchronous: it needs thread "worker"');
    this.runner = thread === 'worker'
      ? new WorkerRunner(loaded.entry, mode, options.timeoutMs ?? 120_000, options.dawnFlags ?? [])
      : new MainThreadRunner(loaded.gpujs, mode);
  }

  /** The gpu.js backend actually running the kernel (known for sure after the first call). */
  get backend(): string {
    return this.runner.backend;
  }

  windows(maxElements: number): KernelWindows {
    if (!this.buffers || maxElements > this.capacity) {
      this.capacity = maxElements;
      const bytes = (n: number) => (this.runner.shared ? new SharedArrayBuffer(n) : new ArrayBuffer(n));
      this.buffers = {
        rawA: new Uint8Array(bytes(maxElements * 4)), rawB: new Uint8Array(bytes(maxElements * 4)),
        f32A: new Float32Array(bytes(maxElements * 4)), f32B: new Float32Array(bytes(maxElements * 4)),
      };
    }
    return this.buffers;
  }

  reset(): void {
    this.state = new MomentsAccumulator();
  }

  accumulate(a: { layout: Layout; data: Uint8Array | Float32Array }, b: { layout: Layout; data: Uint8Array | Float32Array }, count: number): void {
    for (let start = 0; start < count; start += MAX_CHUNK) {
      const length = Math.min(MAX_CHUNK, count - start);
      this.addChunk(this.floats(a, 'A', start, length), this.floats(b, 'B', start, length), length);
    }
  }

  result(): Moments {
    return this.state.result();
  }

  dispose(): void {
    this.runner.close();
    this.buffers = null;
    this.scratch = { A: null, B: null };
  }

  private addChunk(x: Float32Array, y: Float32Array, length: number): void {
    const cells = Math.floor(length / CELL);
    if (cells > 0) {
      const p = this.runner.run(x, y, cells);
      this.counters.kernelCalls++;
      this.counters.largestCall = Math.max(this.counters.largestCall, cells * CELL);
      for (let c = 0; c < cells; c++) {
        const s1a = p[c]!, s1b = p[cells + c]!, s2a = p[2 * cells + c]!, s2b = p[3 * cells + c]!;
        const sab = p[4 * cells + c]!, sdd = p[5 * cells + c]!, mx = p[6 * cells + c]!;
        const all = s1a + s1b + s2a + s2b + sab + sdd + mx;
        // x − x is 0 only for finite x: a NaN or Inf anywhere in the cell sends it to the CPU.
        if (all - all === 0) this.state.addShifted(CELL, x[c * CELL]!, y[c * CELL]!, s1a, s1b, s2a, s2b, sab, sdd, mx);
        else {
          this.state.add(blockMoments(x, y, c * CELL, (c + 1) * CELL));
          this.counters.cellsOnCpu++;
        }
      }
    }
    if (cells * CELL < length) this.state.add(blockMoments(x, y, cells * CELL, length));
  }

  /** Elements [start, start + length) of an operand as float32, in shared memory for a worker. */
  private floats(op: { layout: Layout; data: Uint8Array | Float32Array }, side: 'A' | 'B', start: number, length: number): Float32Array {
    const data = op.data;
    if (data instanceof Float32Array) return this.placed(data.subarray(start, start + length), side);
    if (op.layout === 'f32') {
      const offset = data.byteOffset + 4 * start;
      if (offset % 4 === 0) return this.placed(new Float32Array(data.buffer, offset, length), side);
      const out = this.scratchFor(side, length);
      new Uint8Array(out.buffer, out.byteOffset, 4 * length).set(data.subarray(4 * start, 4 * (start + length)));
      return out;
    }
    const out = this.scratchFor(side, length);
    // Int32Array: `h << 16` is an int32, so V8 stores it without a conversion (2× faster than Uint32Array).
    const bits = new Int32Array(out.buffer, out.byteOffset, length);
    const offset = data.byteOffset + 2 * start;
    if (offset % 2 === 0) {
      const halves = new Uint16Array(data.buffer, offset, length);
      for (let i = 0; i < length; i++) bits[i] = halves[i]! << 16;
    } else {
      const bytes = data.subarray(2 * start, 2 * (start + length));
      for (let i = 0; i < length; i++) bits[i] = (bytes[2 * i]! | (bytes[2 * i + 1]! << 8)) << 16;
    }
    return out;
  }

  /** A worker reads shared memory only: copies a view that is not shared. */
  private placed(view: Float32Array, side: 'A' | 'B'): Float32Array {
    if (!this.runner.shared || view.buffer instanceof SharedArrayBuffer) return view;
    const out = this.scratchFor(side, view.length);
    out.set(view);
    return out;
  }

  private scratchFor(side: 'A' | 'B', length: number): Float32Array {
    let s = this.scratch[side];
    if (!s || s.length < length) {
      s = new Float32Array(this.runner.shared ? new SharedArrayBuffer(4 * length) : new ArrayBuffer(4 * length));
      this.scratch[side] = s;
    }
    return s.subarray(0, length);
  }
}

/** headless-gl masks its renderer as 'ANGLE'; only the debug extension tells hardware from software. */
function headlessGlRenderer(gpujs: GpuJsModule, entry: string): { real: boolean; device?: string; reason: string } {
  try {
    if (!gpujs.HeadlessGLKernel.isSupported) return { real: false, reason: "no context (module 'gl' missing or no display)" };
    type Gl = { getExtension(name: string): { UNMASKED_RENDERER_WEBGL: number } | null; getParameter(p: number): unknown };
    const gl = (createRequire(entry)('gl') as (w: number, h: number) => Gl)(1, 1);
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    if (!info) return { real: false, reason: 'renderer unknown (no WEBGL_debug_renderer_info): not counted as a GPU' };
    const device = String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL));
    return SOFTWARE.test(device) ? { real: false, device, reason: `software renderer (${device})` } : { real: true, device, reason: '' };
  } catch (error) {
    return { real: false, reason: firstLine(error) };
  }
}
