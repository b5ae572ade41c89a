// SQLite adapter of the Fibonacci port: one row holding the index, written through the connection's
// shared write transaction so it can never ride, unacknowledged, inside another store's batch.
import { stepIndexes, type FibStep, type FibStore } from "../fib.port.ts";
import { SqliteCommitter } from "./committer.ts";
import type { SqliteDatabase } from "./db.ts";

export class SqliteFibStore implements FibStore {
  /** One process owns an SQLite file: nobody else moves the index. */
  readonly shared = false;
  #get;
  #put;
  #committer: SqliteCommitter;
  constructor(db: SqliteDatabase, committer?: SqliteCommitter) {
    this.#get = db.prepare<{ idx: number }>("SELECT idx FROM fib_state WHERE id = 1");
    this.#put = db.prepare("INSERT INTO fib_state (id, idx) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET idx = excluded.idx");
    this.#committer = committer ?? new SqliteCommitter(db);
  }
  async load(): Promise<number> {
    return this.#get.get()?.idx ?? 0;
  }
  apply(steps: readonly FibStep[]): Promise<number> {
    let start = 0;
    // The service already batches one turn's steps; commit now (taking along any writes of other
    // stores in the open batch). WAL with synchronous=NORMAL survives SIGKILL.
    return this.#committer
      .runNow(() => {
        start = this.#get.get()?.idx ?? 0;
        const end = stepIndexes(start, steps).at(-1);
        if (end !== undefined && end !== start) this.#put.run(end);
      })
      .then(() => start);
  }
}
