// PostgreSQL adapter of the Fibonacci port: several instances share the row, which is the truth.
// Each batch of one instance's steps is one statement: it locks the row (FOR UPDATE), applies the
// steps in the database and commits, returning the index the batch started from (pexd_fib_apply,
// db/postgres/0009_fib_steps.sql); the caller derives every intermediate index from it. The commit
// does not wait for the log flush while it holds the row; a second statement waits for it before the
// batch is acknowledged, so batches of all instances pipeline through the row.
import type { FibStep, FibStore } from "../fib.port.ts";
import type { PgQueryable } from "./pg.ts";

const APPLY = "SELECT pexd_fib_apply($1::text[]) AS start";
/** Assigns a transaction id, so its commit writes a record and waits (synchronously) for the log flush. */
const FLUSH = "SELECT pg_current_xact_id()";

const code = (s: FibStep): string => (typeof s === "number" ? `=${s}` : s === "next" ? "n" : s === "previous" ? "p" : "r");

export class PostgresFibStore implements FibStore {
  readonly shared = true;
  readonly #db: PgQueryable;
  /** This instance's batches take the row in call order. */
  #ordered: Promise<unknown> = Promise.resolve();
  constructor(db: PgQueryable) {
    this.#db = db;
  }
  async load(): Promise<number> {
    const rows = await this.#db.unsafe<{ idx: string | number }>("SELECT idx FROM fib_state WHERE id = 1");
    return rows[0] ? Number(rows[0].idx) : 0;
  }
  async apply(steps: readonly FibStep[]): Promise<number> {
    // 1. Lock, apply, commit without waiting for the flush (pexd_fib_apply): the row is free again.
    const applied = this.#ordered.then(() => this.#db.unsafe<{ start: string | number }>(APPLY, [steps.map(code)]));
    this.#ordered = applied.catch(() => {});
    const rows = await applied;
    // 2. Wait until the log is flushed past that commit; only then is the batch acknowledged.
    await this.#db.unsafe(FLUSH);
    return Number(rows[0]!.start);
  }
}
