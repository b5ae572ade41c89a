// SQLite adapter of the Fibonacci port: one row holding the index, written through the connection's
// shared write transaction so it can never ride, unacknowledged, inside another store's batch.
import type { FibStore } from "../ports.ts";
import { SqliteCommitter } from "./committer.ts";
import type { SqliteDatabase } from "./db.ts";

export class SqliteFibStore implements FibStore {
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
  save(index: number): Promise<void> {
    // The fib service already batches one turn's steps; commit now (taking along any writes of
    // other stores in the open batch). WAL with synchronous=NORMAL survives SIGKILL.
    return this.#committer.runNow(() => this.#put.run(index));
  }
}
