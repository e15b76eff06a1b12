export * from './dtype.ts';
export * from './safetensors.ts';
export * from './folder.ts';
export * from './remote.ts';
export * from './source.ts';
