/**
 * The behavioural test's false-positive rate and power, measured on the real models of
 * ../shared/data: independent pairs (ground truth from models/README.md, plus untrained models of
 * the same shapes) and related ones (the BF16 copy, synthetic fine-tunes), each over several probe
 * seeds. Run: node --import tsx bench/behaviour-fpr.ts [seeds] [probes]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareBehaviour, LocalLlamaModel } from '../core/src/behaviour/index.ts';
import { synthesize } from '../core/src/synth/synth.ts';

const DATA = fileURLToPath(new URL('../../shared/data/models/', import.meta.url));
const seeds = Number(process.argv[2] ?? 10);
const probes = Number(process.argv[3] ?? 100);
const alpha = 0.01;
const dir = mkdtempSync(join(tmpdir(), 'lineage-behaviour-fpr-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

const model = (name: string) => join(DATA, name);
synthesize('independent', { like: model('stories260k'), out: join(dir, 'stories-untrained'), seed: 7 });
synthesize('independent', { like: model('babyllama-361'), out: join(dir, 'baby361-untrained'), seed: 7 });
synthesize('derivative', { like: model('stories260k'), out: join(dir, 'stories-drift-0.02'), drift: 0.02, seed: 7 });
synthesize('derivative', { like: model('stories260k'), out: join(dir, 'stories-drift-0.1'), drift: 0.1, seed: 7 });

const pairs: { a: string; b: string; related: boolean }[] = [
  { a: model('babyllama-105'), b: model('babyllama-361'), related: false },
  { a: model('stories260k'), b: model('babyllama-361'), related: false },
  { a: model('stories260k'), b: model('babyllama-105'), related: false },
  { a: model('stories260k'), b: join(dir, 'stories-untrained'), related: false },
  { a: model('babyllama-361'), b: join(dir, 'baby361-untrained'), related: false },
  { a: model('stories260k'), b: model('stories260k-bf16'), related: true },
  { a: model('stories260k'), b: join(dir, 'stories-drift-0.02'), related: true },
  { a: model('stories260k'), b: join(dir, 'stories-drift-0.1'), related: true },
];

const name = (p: string) => p.replace(DATA, '').replace(dir + '/', '');
let falsePositives = 0;
let independent = 0;
let detected = 0;
let relatedRuns = 0;
const started = Date.now();
for (const pair of pairs) {
  const a = await LocalLlamaModel.open(pair.a);
  const b = await LocalLlamaModel.open(pair.b);
  const calls: (boolean | null)[] = [];
  const agreements: number[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const s = await compareBehaviour(a, b, { probes, seed, alpha, text: false });
    calls.push(s.related);
    if (s.agreement !== null) agreements.push(s.agreement);
  }
  const yes = calls.filter((c) => c === true).length;
  const undecided = calls.filter((c) => c === null).length;
  if (pair.related) {
    detected += yes;
    relatedRuns += calls.length;
  } else {
    falsePositives += yes;
    independent += calls.length;
  }
  const mean = agreements.reduce((s, x) => s + x, 0) / Math.max(1, agreements.length);
  console.log(`${pair.related ? 'related    ' : 'independent'}  ${name(pair.a)} vs ${name(pair.b)}: related ${yes}/${calls.length}, undecided ${undecided}, mean greedy agreement ${mean.toFixed(3)}`);
}
console.log(`\nfalse-positive rate on independent pairs: ${falsePositives}/${independent} = ${(falsePositives / independent).toFixed(3)} (α = ${alpha}, ${probes} token probes per run)`);
console.log(`power on related pairs: ${detected}/${relatedRuns} = ${(detected / relatedRuns).toFixed(3)}`);
console.log(`${((Date.now() - started) / 1000).toFixed(0)} s`);
