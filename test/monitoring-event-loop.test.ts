/**
 * The event-loop delay histogram (service/src/event-loop-delay.ts): a loop blocked for 300 ms shows
 * as one sample above 0.25 s among many near zero; each sample is counted once, whoever scrapes
 * and however often.
 */
import test from 'ava';
import { Registry } from 'prom-client';
import { registerEventLoopDelay } from '../service/src/index.ts';

const NAME = 'lineage_test_event_loop_delay_seconds';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Cumulative bucket counts by upper bound ('+Inf' included) and the count, from one scrape. */
async function scrape(registry: Registry): Promise<{ le: Map<string, number>; count: number }> {
  const text = await registry.metrics();
  const le = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${NAME}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm'))) le.set(m[1]!, Number(m[2]));
  const count = Number(new RegExp(`^${NAME}_count (\\S+)$`, 'm').exec(text)?.[1]);
  return { le, count };
}

test('a 300 ms stall is one sample above 0.25 s among samples near zero, counted once across scrapes', async (t) => {
  const registry = new Registry();
  const delay = registerEventLoopDelay(registry, NAME, 'test');
  t.teardown(() => delay.close());
  await sleep(300);
  const stallStart = performance.now();
  while (performance.now() - stallStart < 300) { /* the main thread busy, as a report built on it */ }
  await sleep(300);

  const first = await scrape(registry);
  t.true(first.count >= 20, `${first.count} samples in 0.9 s at one per 10 ms`);
  t.is(first.le.get('+Inf'), first.count);
  const above = (s: typeof first, bound: string) => s.count - s.le.get(bound)!;
  t.is(above(first, '0.25'), 1, 'the stall is one sample above 0.25 s');
  t.is(above(first, '0.5'), 0, 'and under 0.5 s');
  t.true(first.le.get('0.01')! >= first.count * 0.8, `${first.le.get('0.01')} of ${first.count} samples under 10 ms`);

  await sleep(200);
  const second = await scrape(registry);
  t.true(second.count > first.count, 'samples keep coming');
  t.is(above(second, '0.25'), 1, 'the stall is not counted again');
});
