// Entry of the thread that serves blocking HTTP reads (http-blocking.ts). Built (dist/),
// http-thread-main.js sits beside this file; from the sources, tsx is registered first.
import { existsSync } from 'node:fs';

const compiled = new URL('./http-thread-main.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./http-thread-main.ts');
}
