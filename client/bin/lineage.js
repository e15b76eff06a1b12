#!/usr/bin/env node
// The `lineage` executable from the sources (tests, development): registers tsx so the
// TypeScript runs as it is. The built package runs dist/client/src/main.js instead.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
