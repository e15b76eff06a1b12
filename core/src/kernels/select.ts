/**
 * Picks the kernel. 'auto' is WebAssembly SIMD (the fast CPU path), else the plain TypeScript
 * reference. Measured on an NVIDIA H200 (bench/gpu-check; README, "Kernels"), gpu.js through
 * WebGPU agreed with WASM SIMD but ran 11-21x slower (bf16 0.26 against 5.5 GB/s, f32 0.76
 * against 8.5), so a GPU is not a reason to choose it: gpu.js runs only when asked. The choice is
 * reported.
 */
import { UsageError } from '../errors.ts';
import { JsKernel } from './js-kernel.ts';
import type { KernelName, PairKernel } from './kernel.ts';
import { WasmKernel, wasmSimdAvailable } from './wasm-kernel.ts';

export type KernelChoice = KernelName | 'auto';
export const KERNEL_CHOICES: readonly KernelChoice[] = ['auto', 'wasm-simd', 'js', 'gpu.js'];

interface GpuModule {
  GpuKernel: new (options?: { mode?: string }) => PairKernel;
}

async function loadGpu(): Promise<GpuModule | null> {
  try {
    return (await import('./gpu-kernel.ts')) as unknown as GpuModule;
  } catch {
    return null;
  }
}

/** The fastest kernel on the CPU: WebAssembly SIMD where the engine has it, else the reference. */
export function cpuKernel(): KernelName {
  return wasmSimdAvailable() ? 'wasm-simd' : 'js';
}

/** Resolves 'auto' to a concrete kernel name. */
export async function resolveKernel(choice: KernelChoice): Promise<KernelName> {
  if (!KERNEL_CHOICES.includes(choice)) throw new UsageError(`unknown kernel '${choice}' (expected one of ${KERNEL_CHOICES.join(', ')})`);
  return choice === 'auto' ? cpuKernel() : choice;
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
