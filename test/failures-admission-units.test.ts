/** The coordinator's admission queue and gates, and its rule for failing a job whose tensors mostly went uncompared. */
import test from 'ava';
import { Gate, JobAdmission } from '../coordinator/src/admission.ts';
import { mostlyUncompared } from '../coordinator/src/job-failure.ts';
import type { Plan, Task } from '../core/src/plan/index.ts';
import type { TaskOutcome } from '../proto/convert.ts';

test('jobs beyond the limit wait in submission order; leaving (done or cancelled while waiting) admits the next', async (t) => {
  const admission = new JobAdmission(2);
  const admitted: string[] = [];
  t.is(admission.enter('a'), null);
  t.is(admission.enter('b'), null);
  for (const id of ['c', 'd', 'e']) void admission.enter(id)!.then(() => admitted.push(id));
  t.is(admission.enter('r', true), null, 'a job already in flight goes on whatever the limit');
  t.deepEqual([admission.running, admission.queued, admission.ahead('e')], [3, 3, 2]);
  admission.leave('r');
  admission.leave('d'); // cancelled while waiting
  admission.leave('a');
  await Promise.resolve();
  t.deepEqual(admitted, ['c']);
  admission.leave('b');
  await Promise.resolve();
  t.deepEqual(admitted, ['c', 'e']);
  t.deepEqual([admission.running, admission.queued], [2, 0]);
  t.throws(() => new JobAdmission(0), { instanceOf: RangeError });
});

test('a gate lets `limit` holders run at once and hands each freed place to the next in line', async (t) => {
  const gate = new Gate(1);
  const order: string[] = [];
  let releaseFirst!: () => void;
  const first = gate.run(() => new Promise<void>((r) => { order.push('first'); releaseFirst = r; }));
  const second = gate.run(async () => { order.push('second'); });
  await Promise.resolve();
  t.deepEqual([gate.running, gate.queued], [1, 1]);
  t.deepEqual(order, ['first']);
  releaseFirst();
  await Promise.all([first, second]);
  t.deepEqual(order, ['first', 'second']);
  t.deepEqual([gate.running, gate.queued], [0, 0]);
  const release = await gate.acquire();
  release();
  release(); // a second release is a no-op
  t.is(gate.running, 0);
});

function plan(itemsPerTask: number[]): Plan {
  const tasks: Task[] = itemsPerTask.map((n, id) => ({ id, label: `t${id}`, bytes: 1, items: Array.from({ length: n }, (_, index) => ({ index, a: null, b: null, scalesA: null, scalesB: null, compare: true, sample: null })) }));
  return { tasks, totalBytes: tasks.length };
}
const outcome = (taskId: number, error: string | null): TaskOutcome => ({ jobId: 'j', taskId, results: [], worker: 'w', error, seconds: 0, kernel: '', attempt: 1 });

test('a job fails only when more than half of its tensors went uncompared, naming the first failure', (t) => {
  const p = plan([3, 3, 4]);
  t.is(mostlyUncompared(p, new Map([[0, outcome(0, 'x')], [1, outcome(1, null)], [2, outcome(2, null)]])), null, '3 of 10');
  t.is(mostlyUncompared(p, new Map([[2, outcome(2, 'y')], [0, outcome(0, null)], [1, outcome(1, 'z')]])),
    '7 of 10 tensors could not be compared: their tasks failed on every delivery (the first: z)');
  t.is(mostlyUncompared(plan([2, 2]), new Map([[0, outcome(0, 'x')], [1, outcome(1, null)]])), null, 'exactly half is not most');
  t.is(mostlyUncompared(plan([]), new Map()), null);
});
