/**
 * The HTML report in a real browser: headless Chromium (Debian package `chromium`) loads the page
 * from a file with the network closed, and the rendered DOM shows the verdict; a screenshot is
 * taken at a desktop width. Skipped, saying so, where /usr/bin/chromium is absent.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { compareModels } from '../core/src/compare/model-report.ts';
import { renderHtml } from '../client/src/report/html.ts';
import { HOSTILE_TENSOR, writeHostilePair, writeSyntheticModels } from './helpers/report-models.ts';
import { unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';

const CHROMIUM = '/usr/bin/chromium';
const run = promisify(execFile);

/** Headless Chromium as root, with nothing that reaches for the network. */
async function chromium(dir: string, args: string[]): Promise<string> {
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${mkdtempSync(join(dir, 'profile-'))}`];
  const { stdout } = await run(CHROMIUM, [...flags, ...args], { timeout: 120_000, maxBuffer: 64 << 20 });
  return stdout;
}

/** Width and height from a PNG's IHDR chunk. */
function pngSize(file: string): { width: number; height: number } {
  const png = readFileSync(file);
  if (png.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') throw new Error(`${file} is not a PNG`);
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

const chromiumTest = unless(existsSync(CHROMIUM) ? null : `${CHROMIUM} is absent (install the Debian package: apt-get install -y chromium)`);
/** Written by the first test that runs (none where Chromium is absent). */
let written: { dir: string; models: ReturnType<typeof writeSyntheticModels>; hostile: ReturnType<typeof writeHostilePair> } | undefined;
function fixtures() {
  if (written) return written;
  const dir = tempDir('lineage-chromium-');
  return (written = { dir, models: writeSyntheticModels(join(dir, 'models')), hostile: writeHostilePair(join(dir, 'models')) });
}

for (const [name, pair, expected] of [
  ['a light fine-tune', (f: ReturnType<typeof fixtures>) => [f.models.base, f.models.light], 'derived'],
  ['independent models with the same config', (f: ReturnType<typeof fixtures>) => [f.models.base, f.models.independent], 'independent'],
  ['hostile names', (f: ReturnType<typeof fixtures>) => [f.hostile.a, f.hostile.b], 'derived'],
] as const) {
  chromiumTest(`headless Chromium renders the report of ${name} and shows the verdict (${expected})`, async (t) => {
    const { dir } = fixtures();
    const [a, b] = pair(fixtures());
    const report = await compareModels(a, b);
    t.is(report.verdict.label, expected);
    const page = join(dir, `${expected}-${name.replace(/\W+/g, '-')}.html`);
    writeFileSync(page, renderHtml(report));
    const dom = await chromium(dir, ['--dump-dom', `file://${page}`]);
    // The parsed document: the verdict badge and its label, and the sections after it.
    t.true(dom.includes(`<div class="verdict" data-verdict="${expected}"`), 'the verdict box');
    t.true(dom.includes(`<span class="badge">${expected}</span>`), 'the verdict label');
    t.true(dom.indexOf('class="badge"') < dom.indexOf('id="charts"'), 'the verdict comes before the charts');
    t.true(dom.includes('<svg'), 'inline charts are in the DOM');
    t.false(/<script|<img/i.test(dom), 'no element was injected by a name in the report');
    if (name === 'hostile names') t.true(dom.includes('&lt;script&gt;alert(1)&lt;/script&gt;') && report.weights.tensors.some((x) => x.name === HOSTILE_TENSOR));
    const shot = join(dir, `${expected}.png`);
    await chromium(dir, [`--screenshot=${shot}`, '--window-size=1280,2400', `file://${page}`]);
    const size = pngSize(shot);
    t.is(size.width, 1280);
    t.is(size.height, 2400);
    t.true(readFileSync(shot).length > 20_000, 'the screenshot has content (not a blank page)');
  });
}
