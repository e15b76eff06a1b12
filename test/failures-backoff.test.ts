/** A worker that cannot read pauses its pulling longer than a task's retry delay, growing with each failure in a row, capped. */
import test from 'ava';
import { ReadBackoff, retryDelayMs } from '../worker/src/read-backoff.ts';

test('pauses grow with read failures in a row (above the first deliveries\' retry delays), cap at 10 s, and end on a success', (t) => {
  let now = 1_000_000;
  const backoff = new ReadBackoff(() => now);
  t.is(backoff.pauseMs(), 0);
  const pauses: number[] = [];
  for (let k = 0; k < 7; k++) {
    backoff.failed();
    pauses.push(backoff.pauseMs());
  }
  t.deepEqual(pauses, [2_000, 4_000, 6_000, 8_000, 10_000, 10_000, 10_000]);
  now += 4_000;
  t.is(backoff.pauseMs(), 6_000, 'the pause runs down with time');
  backoff.succeeded();
  t.is(backoff.pauseMs(), 0);
  backoff.failed();
  t.is(backoff.pauseMs(), 2_000, 'a success starts the count again');
});

test('retry delays: 1 s per delivery so far, at most 30 s', (t) => {
  t.deepEqual([0, 1, 2, 5, 40].map(retryDelayMs), [1_000, 1_000, 2_000, 5_000, 30_000]);
});
