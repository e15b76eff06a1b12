/**
 * Packages use each other only through their entries (one public entry per folder, as nats.js's
 * mod.ts): core through a file at the top of core/src (errors.ts, mod.ts) or a folder's index.ts /
 * mod.ts, never a file inside a folder; the coordinator, the worker and service/ (what those two
 * share) through their src/index.ts; proto/ through its top-level files and the generated API.
 * Dependencies point one way: core imports none of the others; proto and service import only
 * core; the coordinator and the worker do not import each other or the client. Entries per folder
 * (rather than one for all of core) keep the command line's lazy loading: `lineage arch` does not
 * load the weight kernels.
 */
import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CORE = join(ROOT, 'core', 'src');
const OTHERS = ['client', 'coordinator', 'worker', 'service', 'proto'];
const ENTRY_NAMES = new Set(['index.ts', 'mod.ts']);

/** The packages each package may import (core always, through its entries). */
const MAY_IMPORT: Record<string, string[]> = {
  client: ['coordinator', 'worker', 'service', 'proto'],
  coordinator: ['service', 'proto'],
  worker: ['service', 'proto'],
  service: [],
  proto: [],
};

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

/** Why an import of `target` (an absolute path in package `pkg`, not core) is not allowed, or null. */
function packageEntryViolation(pkg: string, target: string): string | null {
  const path = relative(ROOT, target).split(sep).join('/');
  if (pkg === 'proto') {
    // Its top-level modules, and the generated gRPC and message types.
    if (path.split('/').length === 2 || path === 'proto/lineage/v1/lineage.ts') return null;
    return `imports ${path}, inside proto/: import a module at the top of proto/ (or the generated proto/lineage/v1/lineage.ts)`;
  }
  const entry = `${pkg}/src/index.ts`;
  return path === entry ? null : `imports ${path}: import ${entry} (add the name there) instead`;
}

/**
 * Checks every relative import of the packages (client, coordinator, ...) whose target `judge`
 * looks at: it returns undefined for a target it ignores, else why it is refused or null.
 */
function scanPackages(judge: (pkg: string, target: string) => string | null | undefined): { violations: string[]; checked: number } {
  const violations: string[] = [];
  let checked = 0;
  for (const pkg of OTHERS) {
    for (const file of sourcesUnder(join(ROOT, pkg))) {
      for (const { specifier, line } of importsOf(file)) {
        const why = judge(pkg, resolve(dirname(file), specifier));
        if (why === undefined) continue;
        checked++;
        if (why) violations.push(`${relative(ROOT, file)}:${line} ${why}`);
      }
    }
  }
  return { violations, checked };
}

/** Imports from one package into another (core left out), against the direction and entry rules. */
const crossPackageViolations = () => scanPackages((pkg, target) => {
  const into = relative(ROOT, target).split(sep)[0]!;
  if (into === pkg || !OTHERS.includes(into)) return undefined;
  return MAY_IMPORT[pkg]!.includes(into) ? packageEntryViolation(into, target) : `imports ${relative(ROOT, target)}: ${pkg} may not depend on ${into}`;
});

test('client, coordinator, worker, service and proto import each other only through their entries, in one direction', (t) => {
  const { violations, checked } = crossPackageViolations();
  t.true(checked > 20, `the scan found the packages' imports of each other (${checked})`);
  t.deepEqual(violations, []);
});

test('the package rule itself: entries pass; a file beside an entry, or an import against the direction, is refused', (t) => {
  t.is(packageEntryViolation('service', join(ROOT, 'service', 'src', 'index.ts')), null);
  t.is(packageEntryViolation('proto', join(ROOT, 'proto', 'signed.ts')), null);
  t.is(packageEntryViolation('proto', join(ROOT, 'proto', 'lineage', 'v1', 'lineage.ts')), null);
  t.regex(packageEntryViolation('coordinator', join(ROOT, 'coordinator', 'src', 'metrics.ts')) ?? '', /import coordinator\/src\/index\.ts/);
  t.regex(packageEntryViolation('service', join(ROOT, 'service', 'src', 'model-roots.ts')) ?? '', /import service\/src\/index\.ts/);
  t.regex(packageEntryViolation('proto', join(ROOT, 'proto', 'lineage', 'v1', 'other.ts')) ?? '', /inside proto\//);
  t.false(MAY_IMPORT.worker!.includes('coordinator'));
  t.false(MAY_IMPORT.service!.includes('coordinator'));
});

test('client, coordinator, worker, service and proto import core only through its entries', (t) => {
  const { violations, checked } = scanPackages((_, target) => (target.startsWith(CORE + sep) ? entryViolation(target) : undefined));
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
