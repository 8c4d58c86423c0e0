export * from './errors.js';
export * from './clock.js';
export * from './ids.js';
export * from './durations.js';
export * from './context.js';
export * from './parser-refusal.js';
export * from './json-bytes.js';
export * from './sqlite-file.js';
