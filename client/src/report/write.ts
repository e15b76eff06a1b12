/** Writes a report where the command line asked (JSON, Markdown, HTML) and prints its summary. */
import { writeFileSync } from 'node:fs';
import type { ComparisonReport } from '../../../core/src/compare/index.ts';
import { BadInputError } from '../../../core/src/errors.ts';
import { renderHtml } from './html.ts';
import { renderMarkdown } from './markdown.ts';
import { formatSummary } from './summary.ts';

export interface ReportOutputs {
  json?: string;
  md?: string;
  html?: string;
  quiet?: boolean;
}

function write(file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch (err) {
    throw new BadInputError(file, `cannot write the report (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

export function writeReport(report: ComparisonReport, outputs: ReportOutputs): void {
  if (outputs.json) write(outputs.json, JSON.stringify(report, null, 2) + '\n');
  if (outputs.md) write(outputs.md, renderMarkdown(report));
  if (outputs.html) write(outputs.html, renderHtml(report));
  if (!outputs.quiet) process.stdout.write(formatSummary(report) + '\n');
}
