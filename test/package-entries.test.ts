/**
 * The other packages (client, coordinator, worker, proto) use core only through its entries: a
 * file at the top of core/src (errors.ts, mod.ts) or a folder's index.ts / mod.ts, never a file
 * inside a folder; core itself imports none of them. Entries per folder (rather than one for all
 * of core) keep the command line's lazy loading: `lineage arch` does not load the weight kernels.
 */
import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CORE = join(ROOT, 'core', 'src');
const OTHERS = ['client', 'coordinator', 'worker', 'proto'];
const ENTRY_NAMES = new Set(['index.ts', 'mod.ts']);

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : sourcesUnder(path);
    return /\.(ts|mts|mjs)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Relative specifiers of static imports, re-exports and dynamic imports, with their line numbers. */
function importsIn(text: string): { specifier: string; line: number }[] {
  const found: { specifier: string; line: number }[] = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)'(\.{1,2}\/[^']+)'/gm;
  for (const m of text.matchAll(pattern)) found.push({ specifier: m[1]!, line: text.slice(0, m.index).split('\n').length });
  return found;
}

const importsOf = (file: string) => importsIn(readFileSync(file, 'utf8'));

/** Why an import of `target` (an absolute path inside core/src) from outside core is not allowed, or null. */
function entryViolation(target: string): string | null {
  const inside = relative(CORE, target).split(sep);
  if (inside.length === 1) return null; // a file at the top of core/src: errors.ts, mod.ts
  if (inside.length === 2 && ENTRY_NAMES.has(inside[1]!)) return null;
  return `imports ${relative(ROOT, target)}, inside core/src/${inside[0]}: import core/src/${inside[0]}/index.ts (add the name there) instead`;
}

test('client, coordinator, worker and proto import core only through its entries', (t) => {
  const violations: string[] = [];
  let checked = 0;
  for (const pkg of OTHERS) {
    for (const file of sourcesUnder(join(ROOT, pkg))) {
      for (const { specifier, line } of importsOf(file)) {
        const target = resolve(dirname(file), specifier);
        if (!target.startsWith(CORE + sep)) continue;
        checked++;
        const why = entryViolation(target);
        if (why) violations.push(`${relative(ROOT, file)}:${line} ${why}`);
      }
    }
  }
  t.true(checked > 20, `the scan found the packages' imports of core (${checked})`);
  t.deepEqual(violations, []);
});

test('core imports nothing from the packages built on it', (t) => {
  const violations: string[] = [];
  for (const file of sourcesUnder(join(ROOT, 'core'))) {
    for (const { specifier, line } of importsOf(file)) {
      const target = resolve(dirname(file), specifier);
      const pkg = relative(ROOT, target).split(sep)[0]!;
      if (OTHERS.includes(pkg)) violations.push(`${relative(ROOT, file)}:${line} imports ${relative(ROOT, target)}`);
    }
  }
  t.deepEqual(violations, []);
});

test('the entry rule itself: a file inside a folder is refused, entries and top-level files are not', (t) => {
  t.is(entryViolation(join(CORE, 'errors.ts')), null);
  t.is(entryViolation(join(CORE, 'exec', 'index.ts')), null);
  t.is(entryViolation(join(CORE, 'align', 'mod.ts')), null);
  t.regex(entryViolation(join(CORE, 'exec', 'run-task.ts')) ?? '', /import core\/src\/exec\/index\.ts/);
  t.regex(entryViolation(join(CORE, 'kernels', 'wasm', 'source.ts')) ?? '', /inside core\/src\/kernels/);
  const text = [
    "import { a } from '../core/src/x/a.ts';",
    "import type {",
    "  B,",
    "} from '../core/src/y/index.ts';",
    "export * from './z.ts';",
    "import './side-effect.ts';",
    "const m = await import('../core/src/w/lazy.ts');",
    "const s = 'from nowhere';",
    "import { c } from 'node:fs';",
  ].join('\n');
  t.deepEqual(importsIn(text), [
    { specifier: '../core/src/x/a.ts', line: 1 },
    { specifier: '../core/src/y/index.ts', line: 4 },
    { specifier: './z.ts', line: 5 },
    { specifier: './side-effect.ts', line: 6 },
    { specifier: '../core/src/w/lazy.ts', line: 7 },
  ]);
});
