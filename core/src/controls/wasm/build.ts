/**
 * Assembles source.ts into null.wasm (checked in: a few hundred bytes). Run with
 * `npm run build:wasm`; a test checks that the checked-in binary matches the source.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nullSource } from './source.ts';
import { assembleWat } from '../../kernels/wasm/build.ts';

export function assembleNull(): Promise<Uint8Array> {
  return assembleWat('null.wat', nullSource());
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const binary = await assembleNull();
  const out = fileURLToPath(new URL('./null.wasm', import.meta.url));
  writeFileSync(out, binary);
  console.log(`wrote ${out} (${binary.length} bytes)`);
}
