import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../../core/src/errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;
/** Spelled out so the emitted declarations can name it (`npm run build`). */
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

/** node:util parseArgs, strict, with its complaints turned into UsageError (exit status 2). */
export function parseCommandLine<O extends Options>(command: string, argv: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`lineage ${command}: ${(err as Error).message}`);
  }
}

/** Exactly `count` positional arguments, named in the message when missing. */
export function requirePositionals(command: string, positionals: string[], names: string[]): string[] {
  if (positionals.length !== names.length) {
    throw new UsageError(
      `lineage ${command}: expected ${names.join(' ')}, got ${positionals.length} argument(s)`,
    );
  }
  return positionals;
}

/** A number option, checked for range; `undefined` when absent. */
export function numberOption(
  command: string,
  name: string,
  value: string | undefined,
  check: { min?: number; max?: number; integer?: boolean } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const bad =
    value.trim() === '' ||
    !Number.isFinite(n) ||
    (check.integer && !Number.isInteger(n)) ||
    (check.min !== undefined && n < check.min) ||
    (check.max !== undefined && n > check.max);
  if (bad) {
    const range = [
      check.integer ? 'an integer' : 'a number',
      check.min !== undefined ? `>= ${check.min}` : '',
      check.max !== undefined ? `<= ${check.max}` : '',
    ].filter(Boolean).join(' ');
    throw new UsageError(`lineage ${command}: --${name} must be ${range}, got '${value}'`);
  }
  return n;
}
