/** Centered moments and their exact merge. */
export * from './moments.ts';
