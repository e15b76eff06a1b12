/** Refusals are logged throttled: the first of each kind at once, then one per window with a count. */
import test from 'ava';
import { throttledLog } from '../proto/log-throttle.ts';

test('a flood of refusals is a few log lines, each kind on its own', async (t) => {
  const lines: string[] = [];
  const log = throttledLog((l) => lines.push(l), 200);
  for (let i = 0; i < 1000; i++) log('result/unsigned', `rejected result ${i}`);
  log('task/tampered', 'rejected task');
  t.deepEqual(lines, ['rejected result 0', 'rejected task']);
  await new Promise((r) => setTimeout(r, 250));
  log('result/unsigned', 'rejected result 1000');
  t.regex(lines.at(-1)!, /^rejected result 1000 \(and 999 more like it in the last 0 s\)$/);
});
