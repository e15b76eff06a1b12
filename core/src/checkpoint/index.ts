export * from './dtype.ts';
export * from './safetensors.ts';
export * from './folder.ts';
