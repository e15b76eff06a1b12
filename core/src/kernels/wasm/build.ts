/**
 * Assembles source.ts into moments.wasm (checked in: a few KB). Run with `npm run build:wasm`;
 * a test checks that the checked-in binary matches the source.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { kernelSource } from './source.ts';

export async function assembleKernel(): Promise<Uint8Array> {
  const wabt = await (await import('wabt')).default();
  const module = wabt.parseWat('moments.wat', kernelSource(), { simd: true });
  try {
    module.validate();
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const binary = await assembleKernel();
  const out = fileURLToPath(new URL('./moments.wasm', import.meta.url));
  writeFileSync(out, binary);
  console.log(`wrote ${out} (${binary.length} bytes)`);
}
