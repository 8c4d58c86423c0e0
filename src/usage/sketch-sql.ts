import type Database from 'better-sqlite3';
import { BinCounts, sketchKey } from './sketch.js';

/**
 * The rollup sketches as SQL aggregates, so rollup rows can be built and merged inside SQLite with the writer's own
 * mapping and encoding (sketch.ts): the schema v4 migration derives new cuboids from the full one, and the usage
 * benchmark builds the rollups of a large database with GROUP BY instead of replaying its rows (its test checks the
 * result equals the writer's).
 * - usage_sketch(value): the encoded sketch of a column's values; NULLs are skipped (a TTFT that never came).
 * - usage_sketch_merge(blob): encoded sketches merged (bin counts added).
 * - usage_sketch_recode(blob): one encoded sketch in the compact encoding (schema v6 rewrites the older pairs).
 */
export function registerSketchSql(db: Database.Database): void {
  db.aggregate('usage_sketch', {
    start: () => new BinCounts(),
    // (`next` is typed as the accumulator by @types/better-sqlite3; it is the SQL argument.)
    step: (acc: BinCounts, next: unknown) => {
      if (next !== null) acc.addKey(sketchKey(next as number));
      return acc;
    },
    result: (acc: BinCounts) => acc.encode(),
  });
  db.function('usage_sketch_recode', { deterministic: true }, (blob: unknown) => {
    const b = new BinCounts();
    b.add(blob as Uint8Array);
    return b.encode();
  });
  db.aggregate('usage_sketch_merge', {
    start: () => new BinCounts(),
    step: (acc: BinCounts, next: unknown) => {
      acc.add(next as Uint8Array);
      return acc;
    },
    result: (acc: BinCounts) => acc.encode(),
  });
}
