/** Plans: tasks by layer and expert, balanced by bytes. */
export * from './plan.ts';
