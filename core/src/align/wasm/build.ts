/**
 * Assembles source.ts into dots.wasm, units-source.ts into units.wasm, lines-source.ts into
 * lines.wasm and greedy-source.ts into greedy.wasm (checked in: a few KB).
 * Run with `npm run build:wasm`; tests check that the checked-in binaries match the sources.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dotsSource } from './source.ts';
import { unitsSource } from './units-source.ts';
import { linesSource } from './lines-source.ts';
import { greedySource } from './greedy-source.ts';
import { assembleWat } from '../../kernels/wasm/build.ts';

export function assembleDots(): Promise<Uint8Array> {
  return assembleWat('dots.wat', dotsSource());
}

export function assembleUnits(): Promise<Uint8Array> {
  return assembleWat('units.wat', unitsSource());
}

export function assembleLines(): Promise<Uint8Array> {
  return assembleWat('lines.wat', linesSource());
}

export function assembleGreedy(): Promise<Uint8Array> {
  return assembleWat('greedy.wat', greedySource());
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [name, assemble] of [['dots.wasm', assembleDots], ['units.wasm', assembleUnits], ['lines.wasm', assembleLines], ['greedy.wasm', assembleGreedy]] as const) {
    const binary = await assemble();
    const out = fileURLToPath(new URL(`./${name}`, import.meta.url));
    writeFileSync(out, binary);
    console.log(`wrote ${out} (${binary.length} bytes)`);
  }
}
