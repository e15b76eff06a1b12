// Entry of an executor thread. Built (dist/), thread-main.js sits beside this file and loads as
// plain JavaScript; from the sources, tsx is registered first so thread-main.ts loads as it is.
import { existsSync } from 'node:fs';

const compiled = new URL('./thread-main.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./thread-main.ts');
}
