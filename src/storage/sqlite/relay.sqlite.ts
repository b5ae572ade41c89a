// SQLite adapter of the relay port. First-wins is one INSERT OR IGNORE inside the shared write
// transaction (group commit). Frames of one event-loop turn share one savepoint (recordMany: the
// server's batch, committed at once), and sender counters are summed in memory and written once per
// commit and address, so a frame costs one statement.
import type { FrameOutcome, RelayBlockInfo, RelayClientStats, RelayFrame, RelayStore, RelayTotals } from "../relay.port.ts";
import { nextTurn } from "../../next-turn.ts";
import { SqliteCommitter, type CommitterOptions } from "./committer.ts";
import type { SqliteDatabase } from "./db.ts";

export interface SqliteRelayStoreOptions extends CommitterOptions {
  /** A second (read-only) connection: reads never see a frame before its COMMIT. Defaults to the writer. */
  reader?: SqliteDatabase;
  /** The connection's shared write transaction; a private one by default. */
  committer?: SqliteCommitter;
}

interface Delta {
  frames: number;
  bytes: number;
  duplicates: number;
  rejected: number;
  first: string;
  last: string;
}

export class SqliteRelayStore implements RelayStore {
  #committer: SqliteCommitter;
  #schedule: (fn: () => void) => void;
  #frames: { f: RelayFrame; resolve(o: FrameOutcome): void; reject(e: unknown): void }[] = [];
  #pending = new Map<string, Delta>();
  #insertBlock;
  #upsertClient;
  #totals;
  #blocksCount;
  #clients;
  #blocks;
  #document;

  constructor(db: SqliteDatabase, opts: SqliteRelayStoreOptions = {}) {
    const r = opts.reader ?? db;
    this.#committer = opts.committer ?? new SqliteCommitter(db, opts);
    this.#schedule = opts.schedule ?? nextTurn;
    this.#committer.beforeCommit(() => this.#writeDeltas());
    this.#insertBlock = db.prepare(
      "INSERT OR IGNORE INTO relay_blocks (number, hash, bytes, received_at, sender, html) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.#upsertClient = db.prepare(
      `INSERT INTO relay_clients (address, frames, bytes, duplicates, rejected, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
       ON CONFLICT (address) DO UPDATE SET frames = frames + ?2, bytes = bytes + ?3, duplicates = duplicates + ?4,
         rejected = rejected + ?5, last_seen = max(last_seen, ?7)`,
    );
    this.#totals = r.prepare<{
      frames: number | null;
      bytes: number | null;
      duplicates: number | null;
      rejected: number | null;
      clients: number;
    }>(
      "SELECT sum(frames) AS frames, sum(bytes) AS bytes, sum(duplicates) AS duplicates, sum(rejected) AS rejected, count(*) AS clients FROM relay_clients",
    );
    this.#blocksCount = r.prepare<{ n: number }>("SELECT count(*) AS n FROM relay_blocks");
    this.#clients = r.prepare<RelayClientStats>(
      "SELECT address, frames, bytes, duplicates, rejected, first_seen, last_seen FROM relay_clients ORDER BY address",
    );
    this.#blocks = r.prepare<RelayBlockInfo>(
      'SELECT number, hash, bytes, received_at, sender AS "from" FROM relay_blocks ORDER BY number DESC LIMIT ?',
    );
    this.#document = r.prepare<{ html: Uint8Array }>("SELECT html FROM relay_blocks WHERE number = ?");
  }

  /** Commits issued by the write transaction (tests). */
  get commits(): number {
    return this.#committer.commits;
  }

  record(f: RelayFrame): Promise<FrameOutcome> {
    return new Promise<FrameOutcome>((resolve, reject) => {
      this.#frames.push({ f, resolve, reject });
      if (this.#frames.length === 1) this.#schedule(() => this.#writeFrames());
    });
  }

  /** Applies the frames now and commits at once (the caller already gathered a turn's worth). */
  recordMany(frames: readonly RelayFrame[]): Promise<FrameOutcome[]> {
    this.#writeFrames(); // frames record() queued earlier are decided first
    const outcomes: FrameOutcome[] = new Array(frames.length);
    return this.#committer.runNow(() => this.#apply(frames, outcomes)).then(() => outcomes);
  }

  #writeFrames(): void {
    const batch = this.#frames;
    if (!batch.length) return;
    this.#frames = [];
    const frames = batch.map((e) => e.f);
    const outcomes: FrameOutcome[] = new Array(batch.length);
    this.#committer
      .run(() => this.#apply(frames, outcomes))
      .then(
        () => {
          for (const [i, e] of batch.entries()) e.resolve(outcomes[i]!);
        },
        (err: unknown) => {
          for (const e of batch) e.reject(err);
        },
      );
  }

  /** Inside the write transaction: decides each frame; counters join the commit only if every insert ran. */
  #apply(frames: readonly RelayFrame[], outcomes: FrameOutcome[]): void {
    const deltas = new Map<string, Delta>();
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      const b = f.block;
      const outcome: FrameOutcome = b
        ? this.#insertBlock.run(b.number, b.hash, f.bytes, f.at, f.address, b.html).changes === 1
          ? "stored"
          : "duplicate"
        : "rejected";
      outcomes[i] = outcome;
      let d = deltas.get(f.address);
      if (!d) deltas.set(f.address, (d = { frames: 0, bytes: 0, duplicates: 0, rejected: 0, first: f.at, last: f.at }));
      d.frames++;
      d.bytes += f.bytes;
      d.last = f.at;
      if (outcome === "duplicate") d.duplicates++;
      else if (outcome === "rejected") d.rejected++;
    }
    for (const [address, d] of deltas) {
      const p = this.#pending.get(address);
      if (!p) this.#pending.set(address, d);
      else {
        p.frames += d.frames;
        p.bytes += d.bytes;
        p.duplicates += d.duplicates;
        p.rejected += d.rejected;
        p.last = d.last;
      }
    }
  }

  #writeDeltas(): void {
    if (!this.#pending.size) return;
    for (const [address, d] of this.#pending) this.#upsertClient.run(address, d.frames, d.bytes, d.duplicates, d.rejected, d.first, d.last);
    this.#pending.clear();
  }

  async totals(): Promise<RelayTotals> {
    const t = this.#totals.get()!;
    return {
      blocks: this.#blocksCount.get()!.n,
      frames: t.frames ?? 0,
      duplicates: t.duplicates ?? 0,
      rejected: t.rejected ?? 0,
      bytes: t.bytes ?? 0,
      clients: t.clients,
    };
  }

  async clients(): Promise<RelayClientStats[]> {
    return this.#clients.all();
  }

  async blocks(limit: number): Promise<RelayBlockInfo[]> {
    return this.#blocks.all(limit);
  }

  async document(number: number): Promise<Uint8Array | null> {
    return this.#document.get(number)?.html ?? null;
  }

  async close(): Promise<void> {
    this.#writeFrames();
    this.#committer.flush();
  }
}
