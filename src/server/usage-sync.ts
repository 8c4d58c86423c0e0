import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from '../config/index.js';
import { createRedisStream, type RedisStream, type StreamEntry } from '../state/index.js';
import { createLocalRowReader, PEER_VALUES_PER_ROW, type UsageWriter } from '../usage/index.js';
import type { Logger } from './logger.js';

/** Rows per stream entry (one replica's batch): ~100 KB of JSON at most. */
const SHIP_ROWS = 500;
/** Entries per read: at most a few MB in one reply. */
const READ_ENTRIES = 16;
/** A row's time is when its request started; one shipped at the edge of the window may have started this much earlier. */
const REWIND_SLACK_MS = 10 * 60_000;
/** At shutdown, how long the last rows may take to ship. */
const FINAL_SHIP_MS = 3_000;
/** The wire row: the origin's id, then row-layout.ts values (names as strings). */
const WIRE_ROW_LENGTH = PEER_VALUES_PER_ROW - 1;
/**
 * A wire row the usage log can take: the values rollups fold are numbers where they must be (time, status, tokens,
 * latency) and the subject a string. Peers are trusted replicas; this keeps one bad entry from poisoning the rollups.
 */
const isWireRow = (r: unknown): r is unknown[] =>
  Array.isArray(r) && r.length === WIRE_ROW_LENGTH && Number.isInteger(r[0]) && typeof r[2] === 'number' && typeof r[3] === 'string' &&
  typeof r[11] === 'number' && typeof r[13] === 'number' && typeof r[14] === 'number' && typeof r[15] === 'number' && typeof r[18] === 'number';

/** The sync's counters at one moment (plain numbers: the supervisor hands them to its workers for /metrics). */
export interface UsageSyncStats {
  rowsShipped: number;
  rowsReceived: number;
  /** Rows delivered again (a re-ship, a read repeated after a failure) and ignored. */
  rowsDuplicate: number;
  rewinds: number;
  gaps: number;
  /** Since this replica last had shipped everything / read everything (about one interval while caught up). */
  shipLagMs: number;
  receiveLagMs: number;
  failing: boolean;
}

export interface UsageSync {
  readonly origin: string;
  stats(): UsageSyncStats;
  /** Stops reading, ships what is committed (bounded wait) and disconnects. Call before the writer closes. */
  close(): Promise<void>;
}

/**
 * Usage across replicas, in whichever process owns the usage log (the gateway, or the supervisor of workers). Two
 * loops: the shipper tails this replica's committed rows by a rowid cursor kept in SQLite and appends them to the
 * stream; the reader follows the stream from its cursor (a stream id stored in the same transaction as the rows it
 * inserted) and inserts peers' rows through the usage writer, keyed by origin so a row delivered twice counts once.
 * Either loop that finds Redis gone retries at its interval: the local log is the record, the stream only a channel.
 */
export async function startUsageSync(usage: UsageWriter, st: NonNullable<Config['state']>, logger: Logger): Promise<UsageSync> {
  const cfg = st.usage;
  const reader = createLocalRowReader(usage.db);
  const saved = reader.state();
  const origin = saved.origin ?? `${hostname()}-${randomBytes(4).toString('hex')}`;
  let shipped = saved.shipped !== undefined ? Number(saved.shipped) : reader.idBefore(Date.now() - cfg.stream_max_age - REWIND_SLACK_MS);
  let shipEpoch = saved.ship_epoch || null;
  /** This replica's last entry in the stream (id and number), checked after every reconnect. */
  let lastEntry = saved.ship_entry ? { id: saved.ship_entry, n: Number(saved.ship_n ?? 0) } : null;
  let cursor = saved.consumed ?? '0-0';
  let readEpoch = saved.consume_epoch || null;
  /** The number (`n`) of the last entry read: the next one should be one more, else entries were trimmed unread. */
  let lastN = saved.consumed_n ? Number(saved.consumed_n) : null;
  await usage.ingest({ values: [], state: { origin, shipped: String(shipped) } });

  const stream: RedisStream = createRedisStream({ url: st.redis!, prefix: st.prefix, topic: 'usage', maxAgeMs: cfg.stream_max_age, maxLen: cfg.stream_max_len });
  // After a reconnect Redis may have restarted: the next append checks that this replica's last entry survived.
  let verify = true;
  stream.onReconnect(() => (verify = true));
  const stats = { rowsShipped: 0, rowsReceived: 0, rowsDuplicate: 0, rewinds: 0, gaps: 0, failing: false };
  let shipCaughtUp = Date.now();
  let readCaughtUp = Date.now();
  let badEntries = 0;

  function shipState(): Record<string, string> {
    return { shipped: String(shipped), ship_epoch: shipEpoch ?? '', ship_entry: lastEntry?.id ?? '', ship_n: String(lastEntry?.n ?? 0) };
  }

  /** One append; true when more rows wait. Throws when Redis or the log refuses (the loop retries). */
  async function shipOnce(): Promise<boolean> {
    const rows = reader.after(shipped, SHIP_ROWS);
    const r = await stream.append(origin, rows.length > 0 ? JSON.stringify(rows) : null, verify ? lastEntry : null);
    verify = false;
    if (r.lost || (shipEpoch !== null && shipEpoch !== r.epoch)) {
      // The stream lost entries peers may not have read: ship again the window it would still hold (never skipping
      // rows not shipped yet, after a long outage). Readers that have them ignore them; the entry just appended is
      // inside the window.
      shipped = Math.min(shipped, reader.idBefore(Date.now() - cfg.stream_max_age - REWIND_SLACK_MS));
      shipEpoch = r.epoch;
      lastEntry = null;
      stats.rewinds++;
      logger.warn({ event: 'usage_sync_rewind', reason: r.lost ? 'entries lost' : 'new stream', from_id: shipped }, 'Redis lost usage rows it held: shipping the stream\'s window again');
      await usage.ingest({ values: [], state: shipState() });
      return true;
    }
    shipEpoch = r.epoch;
    if (rows.length === 0) {
      shipCaughtUp = Date.now();
      return false;
    }
    shipped = rows[rows.length - 1]![0] as number;
    lastEntry = r.id === null ? null : { id: r.id, n: r.n };
    stats.rowsShipped += rows.length;
    await usage.ingest({ values: [], state: shipState() });
    if (rows.length < SHIP_ROWS) shipCaughtUp = Date.now();
    return rows.length === SHIP_ROWS;
  }

  /** Appends the peer rows of one entry to `values` (none for this replica's own); returns how many. */
  function decodeInto(e: StreamEntry, values: unknown[]): number {
    if (e.origin === origin) return 0;
    let parsed: unknown;
    try {
      parsed = JSON.parse(e.payload);
    } catch {
      parsed = null;
    }
    if (!Array.isArray(parsed) || !parsed.every(isWireRow)) {
      if (badEntries++ === 0) logger.error({ event: 'usage_sync_bad_entry', id: e.id, origin: e.origin }, 'a usage stream entry is not rows of this version; skipped');
      return 0;
    }
    for (const r of parsed as unknown[][]) {
      for (let i = 1; i < r.length; i++) values.push(r[i]);
      values.push(e.origin, r[0]);
    }
    return parsed.length;
  }

  /** One read; true when more entries wait. */
  async function readOnce(): Promise<boolean> {
    const r = await stream.read(cursor, READ_ENTRIES);
    if (readEpoch !== null && r.epoch !== readEpoch) {
      logger.warn({ event: 'usage_sync_new_stream', cursor }, 'the usage stream is new (Redis lost its data): reading it from its start');
      cursor = '0-0';
      lastN = null;
      readEpoch = r.epoch;
      return true;
    }
    readEpoch = r.epoch;
    const first = r.entries[0];
    if (first && lastN !== null && first.n > lastN + 1) {
      stats.gaps++;
      logger.error(
        { event: 'usage_sync_gap', cursor, missed_entries: first.n - lastN - 1 },
        'usage rows were trimmed from the stream before this replica read them (away longer than state.usage.stream_max_age, or the stream is too short for the traffic: stream_max_len): its usage log misses them',
      );
    }
    if (r.entries.length === 0) {
      readCaughtUp = Date.now();
      return false;
    }
    // Entries go in groups of up to about SHIP_ROWS rows, each group's cursor committed with its rows: a transaction
    // stays a few milliseconds even where it runs on the event loop (one core, no writer thread).
    for (let i = 0; i < r.entries.length; ) {
      const values: unknown[] = [];
      let rows = 0;
      do rows += decodeInto(r.entries[i++]!, values);
      while (i < r.entries.length && rows < SHIP_ROWS);
      const last = r.entries[i - 1]!;
      // Entries of an older version carry no number: no gap check across them.
      const n = Number.isFinite(last.n) ? last.n : null;
      const inserted = await usage.ingest({ values, state: { consumed: last.id, consume_epoch: r.epoch, consumed_n: n === null ? '' : String(n) } });
      cursor = last.id;
      lastN = n;
      stats.rowsReceived += inserted;
      stats.rowsDuplicate += rows - inserted;
      // Written on this thread, an ingest resolves at once: let requests in between groups.
      if (i < r.entries.length) await new Promise((resolve) => setImmediate(resolve));
    }
    if (r.entries.length < READ_ENTRIES) readCaughtUp = Date.now();
    return r.entries.length === READ_ENTRIES;
  }

  let stopped = false;
  let failures = 0;
  const loops: Promise<void>[] = [];
  // Pauses between rounds end early at close (state.usage.interval may be up to 10 s).
  const waking = new Set<() => void>();
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        waking.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      timer.unref();
      waking.add(wake);
    });
  function loop(name: string, once: () => Promise<boolean>): void {
    loops.push(
      (async () => {
        let failing = false;
        while (!stopped) {
          let more = false;
          try {
            more = await once();
            if (failing) {
              failing = false;
              stats.failing = --failures > 0;
              logger.info({ event: 'usage_sync_recovered', loop: name }, `usage ${name} is working again`);
            }
          } catch (err) {
            if (!failing) {
              failing = true;
              failures++;
              stats.failing = true;
              logger.error({ event: 'usage_sync_failing', loop: name, err: String(err) }, `usage ${name} failed; retrying (rows stay in the local log)`);
            }
          }
          if (!stopped && !more) await sleep(cfg.interval);
        }
      })(),
    );
  }
  await stream.ready(2000);
  loop('shipping', shipOnce);
  loop('reading', readOnce);
  logger.info({ event: 'usage_sync_started', origin, shipped, cursor }, 'usage rows are shared with the other replicas through Redis');

  return {
    origin,
    stats: () => ({ ...stats, shipLagMs: Date.now() - shipCaughtUp, receiveLagMs: Date.now() - readCaughtUp }),
    async close() {
      stopped = true;
      for (const wake of [...waking]) wake();
      await Promise.all(loops);
      // The rows committed last (the writer's final batches) go now, so a replica scaled down leaves nothing behind.
      usage.flush();
      const until = Date.now() + FINAL_SHIP_MS;
      try {
        while (stream.connected && Date.now() < until && (await shipOnce()));
      } catch {
        // Redis is away: the rows stay in this replica's log and are shipped when it starts again.
      }
      await stream.close();
    },
  };
}

/**
 * `/metrics` samples of the sync. With workers, each worker serves the copy its supervisor (the one sync of the host)
 * hands it every second: merged across workers they take the `max`, never the sum (which would read N times the
 * host's rows). `max` rather than `first`: the copies differ only by how recent they are, the newest counters are the
 * largest (so a scrape never sees them go backwards whichever worker answers first), and for the lags and `failing`
 * the larger is the cautious reading.
 */
export function usageSyncSamples(s: UsageSyncStats): { name: string; value: number; type?: 'counter'; help: string; aggregator: 'max' }[] {
  return ([
    { name: 'infergate_usage_share_rows_shipped_total', value: s.rowsShipped, type: 'counter', help: 'This replica\'s usage rows appended to the shared stream (again after a rewind).' },
    { name: 'infergate_usage_share_rows_received_total', value: s.rowsReceived, type: 'counter', help: 'Peers\' usage rows inserted into this replica\'s usage log.' },
    { name: 'infergate_usage_share_rows_duplicate_total', value: s.rowsDuplicate, type: 'counter', help: 'Peers\' rows delivered again and ignored (already in the log).' },
    { name: 'infergate_usage_share_rewinds_total', value: s.rewinds, type: 'counter', help: 'Times Redis had lost stream entries and this replica shipped the window again.' },
    { name: 'infergate_usage_share_gaps_total', value: s.gaps, type: 'counter', help: 'Times entries were trimmed from the stream before this replica read them.' },
    { name: 'infergate_usage_share_ship_lag_seconds', value: s.shipLagMs / 1000, help: 'Since this replica last had every committed row shipped (about state.usage.interval while healthy).' },
    { name: 'infergate_usage_share_receive_lag_seconds', value: s.receiveLagMs / 1000, help: 'Since this replica last had read every peer row in the stream.' },
    { name: 'infergate_usage_share_failing', value: s.failing ? 1 : 0, help: '1 while shipping or reading fails (Redis unreachable, the usage log refusing writes).' },
  ] as const).map((sample) => ({ ...sample, aggregator: 'max' as const }));
}
