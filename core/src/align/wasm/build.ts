/**
 * Assembles source.ts into dots.wasm (checked in: a few hundred bytes). Run with
 * `npm run build:wasm`; a test checks that the checked-in binary matches the source.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dotsSource } from './source.ts';
import { assembleWat } from '../../kernels/wasm/build.ts';

export function assembleDots(): Promise<Uint8Array> {
  return assembleWat('dots.wat', dotsSource());
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const binary = await assembleDots();
  const out = fileURLToPath(new URL('./dots.wasm', import.meta.url));
  writeFileSync(out, binary);
  console.log(`wrote ${out} (${binary.length} bytes)`);
}
