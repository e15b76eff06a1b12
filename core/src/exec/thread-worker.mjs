// Entry of an executor thread: registers tsx so the TypeScript sources load as they are.
import { register } from 'tsx/esm/api';

register();
await import('./thread-main.ts');
