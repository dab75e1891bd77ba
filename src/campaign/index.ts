/** Fault-injection campaigns: engine, workers, statistics, SQLite store, shards. */
export * from './engine.js';
export * from './model.js';
export * from './trial.js';
export * from './pool.js';
export * from './stats.js';
export * from './store.js';
export * from './summary.js';
export * from './shard.js';
export * from './design.js';
export * from './betting.js';
