/** The weight kernels: their interface and the choice among them (gpu.js loads only when chosen). */
export * from './kernel.ts';
export * from './select.ts';
