// PostgreSQL adapter of the relay port. The frames of one event-loop turn travel as one call of
// relay_record() (db/postgres/0003_relay_functions.sql): one round trip and one commit decide
// first-copy-wins for each (INSERT … ON CONFLICT DO NOTHING, across every instance) and add the
// senders' counts (upsert with increments); each caller then learns its own frame's outcome.
import { nextTurn } from "../../next-turn.ts";
import type { FrameOutcome, RelayBlockInfo, RelayClientStats, RelayFrame, RelayStore, RelayTotals } from "../relay.port.ts";
import { backoffMs, classifyPgError, type PgClient, sleep } from "./pg.ts";

export interface PostgresRelayStoreOptions {
  /**
   * Batches in flight at once (default 1: frames are decided in the order this process received
   * them, as the SQLite adapter does; with more, a later batch may commit first).
   */
  maxInFlight?: number;
  /** Most frames in one batch (default 512). */
  maxBatch?: number;
  /** Most document bytes in one batch (default 16 MiB; a larger frame goes alone). */
  maxBatchBytes?: number;
  /** Attempts of a batch that meets a deadlock (default 10). */
  attempts?: number;
  /** When a batch is sent (default: the end of the current event-loop turn). */
  schedule?: (fn: () => void) => void;
}

interface Pending {
  f: RelayFrame;
  resolve(o: FrameOutcome): void;
  reject(e: unknown): void;
}

const OUTCOMES: readonly FrameOutcome[] = ["stored", "duplicate", "rejected"];
const RECORD = "SELECT relay_record($1::text[], $2::bigint[], $3::timestamptz[], $4::bigint[], $5::text[], $6::bytea[]) AS outcomes";
/** The ISO 8601 form of Date.prototype.toISOString, in UTC. */
const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const TOTALS = `SELECT (SELECT count(*) FROM relay_blocks)::float8 AS blocks, coalesce(sum(frames), 0)::float8 AS frames,
  coalesce(sum(duplicates), 0)::float8 AS duplicates, coalesce(sum(rejected), 0)::float8 AS rejected,
  coalesce(sum(bytes), 0)::float8 AS bytes, count(*)::float8 AS clients FROM relay_clients`;
const CLIENTS = `SELECT address, frames::float8 AS frames, bytes::float8 AS bytes, duplicates::float8 AS duplicates,
  rejected::float8 AS rejected, ${iso("first_seen")} AS first_seen, ${iso("last_seen")} AS last_seen
  FROM relay_clients ORDER BY address COLLATE "C"`;
const BLOCKS = `SELECT number::float8 AS number, hash, bytes, ${iso("received_at")} AS received_at, sender AS "from"
  FROM relay_blocks ORDER BY number DESC LIMIT $1`;

export class PostgresRelayStore implements RelayStore {
  #client: PgClient;
  #queue: Pending[] = [];
  #scheduled = false;
  #inFlight = 0;
  #idle: (() => void)[] = [];
  #maxInFlight: number;
  #maxBatch: number;
  #maxBatchBytes: number;
  #attempts: number;
  #schedule: (fn: () => void) => void;
  /** Batches sent (tests). */
  batches = 0;

  constructor(client: PgClient, opts: PostgresRelayStoreOptions = {}) {
    this.#client = client;
    this.#maxInFlight = Math.max(1, opts.maxInFlight ?? 1);
    this.#maxBatch = Math.max(1, opts.maxBatch ?? 512);
    this.#maxBatchBytes = opts.maxBatchBytes ?? 16 << 20;
    this.#attempts = Math.max(1, opts.attempts ?? 10);
    this.#schedule = opts.schedule ?? nextTurn;
  }

  record(f: RelayFrame): Promise<FrameOutcome> {
    return new Promise<FrameOutcome>((resolve, reject) => {
      this.#queue.push({ f, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        this.#schedule(() => {
          this.#scheduled = false;
          this.#pump();
        });
      }
    });
  }

  /** The frames join the queue like record()'s: same batches, same order, same retries. */
  recordMany(frames: readonly RelayFrame[]): Promise<FrameOutcome[]> {
    return Promise.all(frames.map((f) => this.record(f)));
  }

  async totals(): Promise<RelayTotals> {
    const [t] = await this.#client.unsafe<RelayTotals>(TOTALS);
    return t ?? { blocks: 0, frames: 0, duplicates: 0, rejected: 0, bytes: 0, clients: 0 };
  }

  async clients(): Promise<RelayClientStats[]> {
    return [...(await this.#client.unsafe<RelayClientStats>(CLIENTS))];
  }

  async blocks(limit: number): Promise<RelayBlockInfo[]> {
    return [...(await this.#client.unsafe<RelayBlockInfo>(BLOCKS, [Math.max(0, Math.floor(limit))]))];
  }

  async document(number: number): Promise<Uint8Array | null> {
    if (!Number.isSafeInteger(number)) return null;
    const [row] = await this.#client.unsafe<{ html: Uint8Array }>("SELECT html FROM relay_blocks WHERE number = $1", [number]);
    return row ? new Uint8Array(row.html.buffer, row.html.byteOffset, row.html.byteLength) : null;
  }

  /** Waits until every frame recorded so far is answered. */
  async close(): Promise<void> {
    this.#pump();
    while (this.#inFlight > 0 || this.#queue.length > 0) await new Promise<void>((r) => this.#idle.push(r));
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
      let n = 0;
      let bytes = 0;
      for (const p of this.#queue) {
        bytes += p.f.block?.html.byteLength ?? 0;
        if (n > 0 && (n >= this.#maxBatch || bytes > this.#maxBatchBytes)) break;
        n++;
      }
      const batch = this.#queue.splice(0, n);
      this.#inFlight++;
      void this.#run(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
        if (this.#inFlight === 0 && this.#queue.length === 0) for (const r of this.#idle.splice(0)) r();
      });
    }
  }

  async #run(batch: Pending[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let codes: ArrayLike<number>;
      try {
        codes = await this.#call(batch);
      } catch (e) {
        const kind = classifyPgError(e);
        if (kind === "retry" && attempt < this.#attempts) {
          await sleep(backoffMs(attempt));
          continue;
        }
        // A frame the database refuses (an impossible number or time): only its caller fails.
        if (batch.length > 1 && (kind === "invalid" || kind === "other")) {
          for (const p of batch) await this.#run([p]);
          return;
        }
        for (const p of batch) p.reject(e);
        return;
      }
      for (const [i, p] of batch.entries()) {
        const o = OUTCOMES[codes[i] ?? -1];
        if (o) p.resolve(o);
        else p.reject(new Error("relay_record returned no outcome for a frame"));
      }
      return;
    }
  }

  async #call(batch: Pending[]): Promise<ArrayLike<number>> {
    this.batches++;
    const fs = batch.map((p) => p.f);
    const [row] = await this.#client.unsafe<{ outcomes: ArrayLike<number> }>(RECORD, [
      fs.map((f) => f.address),
      fs.map((f) => f.bytes),
      fs.map((f) => f.at),
      fs.map((f) => f.block?.number ?? null),
      fs.map((f) => f.block?.hash ?? null),
      fs.map((f) => f.block?.html ?? null),
    ]);
    if (!row || row.outcomes.length !== batch.length) throw new Error("relay_record returned no outcome for some frames");
    return row.outcomes;
  }
}
