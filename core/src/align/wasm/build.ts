/**
 * Assembles source.ts into dots.wasm (checked in: a few hundred bytes). Run with
 * `npm run build:wasm`; a test checks that the checked-in binary matches the source.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dotsSource } from './source.ts';

export async function assembleDots(): Promise<Uint8Array> {
  const wabt = await (await import('wabt')).default();
  const module = wabt.parseWat('dots.wat', dotsSource(), { simd: true });
  try {
    module.validate();
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const binary = await assembleDots();
  const out = fileURLToPath(new URL('./dots.wasm', import.meta.url));
  writeFileSync(out, binary);
  console.log(`wrote ${out} (${binary.length} bytes)`);
}
