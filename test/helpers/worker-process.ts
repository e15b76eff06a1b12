/**
 * Entry of a worker in its own process, for tests that kill one: runs `lineage worker` with the
 * given arguments (node --import tsx test/helpers/worker-process.ts --nats URL ...).
 */
import { run } from '../../client/src/commands/worker.ts';

process.exitCode = await run(process.argv.slice(2));
