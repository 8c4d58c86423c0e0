/** The part of a better-sqlite3 connection these settings use (core/ stays free of the library). */
export interface PragmaTarget {
  pragma(source: string, options?: { simple?: boolean }): unknown;
}

/**
 * The settings of the gateway's SQLite files, applied by every module that opens one: the usage log, the quota
 * counters and the key store may share one file (the quota counters default to the usage log's), and whichever opens
 * it first creates it. When the quota store came first, it created the file with SQLite's defaults (4 KiB pages, no
 * auto-vacuum) before the usage log could choose, so a gateway with limits and a usage log ran on settings the usage
 * log never chose, and its retention could not give pages back to the OS.
 *
 * Page size and auto-vacuum can only be chosen before the first table exists: a new file gets 16 KiB pages (a rollup
 * row with its sketches fits in its page; with 4 KiB pages it spilled into overflow pages that a report reads one by
 * one) and incremental auto-vacuum (retention frees pages to the OS in small steps); an existing file keeps its own.
 * WAL lets readers run while a writer writes; synchronous=NORMAL keeps committed transactions across a process kill
 * (they are in the WAL), at the cost of the last ones on a power loss, the usual trade for a log.
 */
export function prepareSqliteFile(db: PragmaTarget): void {
  if (db.pragma('page_count', { simple: true }) === 0) {
    db.pragma('page_size = 16384');
    db.pragma('auto_vacuum = INCREMENTAL');
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
}
