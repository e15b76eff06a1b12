#!/usr/bin/env node
// The `lineage` executable as built (dist/client/src/main.js, the package's `bin`); from the
// sources, client/bin/lineage.js registers tsx and loads this same file.
import { main } from './cli.ts';

process.exitCode = await main(process.argv.slice(2));
