/**
 * Picks the kernel: gpu.js when it reports a real GPU backend, else WebAssembly SIMD (the fast
 * CPU path), else the plain TypeScript reference. The choice is reported in the output.
 */
import { existsSync, readdirSync } from 'node:fs';
import { UsageError } from '../errors.ts';
import { JsKernel } from './js-kernel.ts';
import type { KernelName, PairKernel } from './kernel.ts';
import { WasmKernel, wasmSimdAvailable } from './wasm-kernel.ts';

export type KernelChoice = KernelName | 'auto';
export const KERNEL_CHOICES: readonly KernelChoice[] = ['auto', 'wasm-simd', 'js', 'gpu.js'];

interface GpuModule {
  GpuKernel: { new (options?: { mode?: string }): PairKernel; probe(): { available: boolean; real: boolean; backend: string; reason?: string } };
}

async function loadGpu(): Promise<GpuModule | null> {
  try {
    return (await import('./gpu-kernel.ts')) as unknown as GpuModule;
  } catch {
    return null;
  }
}

/**
 * On Linux a GPU is reached only through device nodes (/dev/dri for Mesa's drivers, /dev/nvidia*
 * for NVIDIA's): with none, neither WebGPU nor headless-gl can find a real GPU, so the probe
 * (gpu.js and Dawn loaded on a thread: most of a small comparison's start-up) is skipped.
 */
function noGpuDevice(): boolean {
  if (process.platform !== 'linux' || existsSync('/dev/dri')) return false;
  try {
    return !readdirSync('/dev').some((name) => name.startsWith('nvidia'));
  } catch {
    return false;
  }
}

/** Resolves 'auto' to a concrete kernel name, once per process. */
export async function resolveKernel(choice: KernelChoice): Promise<KernelName> {
  if (!KERNEL_CHOICES.includes(choice)) throw new UsageError(`unknown kernel '${choice}' (expected one of ${KERNEL_CHOICES.join(', ')})`);
  if (choice !== 'auto') return choice;
  const gpu = noGpuDevice() ? null : await loadGpu();
  if (gpu?.GpuKernel.probe().real) return 'gpu.js';
  return wasmSimdAvailable() ? 'wasm-simd' : 'js';
}

export async function createKernel(name: KernelName, options: { gpuMode?: string } = {}): Promise<PairKernel> {
  switch (name) {
    case 'wasm-simd':
      return new WasmKernel();
    case 'js':
      return new JsKernel();
    case 'gpu.js': {
      const gpu = await loadGpu();
      if (!gpu) throw new UsageError('the gpu.js kernel is not available: the optional dependency gpu.js is not installed');
      return new gpu.GpuKernel({ mode: options.gpuMode });
    }
  }
}
