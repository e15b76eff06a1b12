/**
 * Assembles source.ts into moments.wasm (checked in: a few KB). Run with `npm run build:wasm`;
 * a test checks that the checked-in binary matches the source.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { kernelSource } from './source.ts';

/** WebAssembly text (SIMD enabled) to a validated binary: the one assembler of every kernel here. */
export async function assembleWat(name: string, source: string): Promise<Uint8Array> {
  const wabt = await (await import('wabt')).default();
  const module = wabt.parseWat(name, source, { simd: true });
  try {
    module.validate();
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

export function assembleKernel(): Promise<Uint8Array> {
  return assembleWat('moments.wat', kernelSource());
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const binary = await assembleKernel();
  const out = fileURLToPath(new URL('./moments.wasm', import.meta.url));
  writeFileSync(out, binary);
  console.log(`wrote ${out} (${binary.length} bytes)`);
}
