import type { FibStore } from "../ports.ts";
import type { SqliteDatabase } from "./db.ts";

export class SqliteFibStore implements FibStore {
  #get;
  #put;
  constructor(db: SqliteDatabase) {
    this.#get = db.prepare<{ idx: number }>("SELECT idx FROM fib_state WHERE id = 1");
    this.#put = db.prepare("INSERT INTO fib_state (id, idx) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET idx = excluded.idx");
  }
  async load(): Promise<number> {
    return this.#get.get()?.idx ?? 0;
  }
  async save(index: number): Promise<void> {
    // Autocommit: one statement is one transaction; in WAL with synchronous=NORMAL it survives SIGKILL.
    this.#put.run(index);
  }
}
