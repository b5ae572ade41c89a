// One write transaction per connection, shared by every store on it (group commit). Stores must not
// write outside it: an autocommit statement issued while a batch is open would silently join that
// batch and be acknowledged before its COMMIT — a lost write after kill -9.
import { nextTurn } from "../../next-turn.ts";
import { sqliteFault, type StorageFault } from "../storage.errors.ts";
import type { SqliteDatabase } from "./db.ts";

interface Entry {
  resolve(): void;
  reject(e: unknown): void;
  error: unknown;
  undo?: () => void;
}

export interface CommitterOptions {
  /** Share one commit between all writes of one event-loop turn (default true). */
  groupCommit?: boolean;
  /** How to run the commit after the current turn (default setImmediate, else setTimeout 0). */
  schedule?: (fn: () => void) => void;
}

type Hook = () => void;

export class SqliteCommitter {
  #groupCommit: boolean;
  #schedule: (fn: () => void) => void;
  #batch: Entry[] | null = null;
  #before: Hook[] = [];
  #after: Hook[] = [];
  #begin;
  #commit;
  #rollback;
  #savepoint;
  #release;
  #rollbackTo;
  /** Commits issued (observability and tests). */
  commits = 0;
  /** The last write the storage refused (disk full, read-only, I/O), until a commit succeeds again. */
  fault: StorageFault | null = null;
  /** When a write was last refused (Date.now()). */
  faultAt = 0;

  constructor(db: SqliteDatabase, opts: CommitterOptions = {}) {
    this.#groupCommit = opts.groupCommit ?? true;
    this.#schedule = opts.schedule ?? nextTurn;
    this.#begin = db.prepare("BEGIN IMMEDIATE");
    this.#commit = db.prepare("COMMIT");
    this.#rollback = db.prepare("ROLLBACK");
    this.#savepoint = db.prepare("SAVEPOINT w");
    this.#release = db.prepare("RELEASE w");
    this.#rollbackTo = db.prepare("ROLLBACK TO w");
  }

  /** `fn` runs just before each COMMIT (e.g. writing a counter once per batch). */
  beforeCommit(fn: Hook): void {
    this.#before.push(fn);
  }

  /** `fn` runs after each COMMIT or rollback (e.g. ending a read snapshot). */
  afterCommit(fn: Hook): void {
    this.#after.push(fn);
  }

  /**
   * Runs `fn` synchronously and atomically (a savepoint in the open batch). The promise settles
   * after the batch's COMMIT: resolved, or rejected with `fn`'s own error (a refusal decided on
   * state that is acknowledged with that commit) or the commit's error. `undo` reverts in-memory
   * effects of a successful `fn` when the commit fails.
   */
  run(fn: () => void, undo?: () => void): Promise<void> {
    if (!this.#batch) {
      try {
        this.#begin.run();
      } catch (e) {
        return Promise.reject(this.#noted(e));
      }
      this.#batch = [];
      if (this.#groupCommit) this.#schedule(() => this.flush());
    }
    const batch = this.#batch;
    let error: unknown = null;
    try {
      this.#savepoint.run();
      try {
        fn();
        this.#release.run();
      } catch (e) {
        this.#rollbackTo.run();
        this.#release.run();
        error = e;
      }
    } catch (e) {
      error = e;
    }
    const fault = sqliteFault(error);
    if (fault) {
      // The storage refused a write: SQLite may already have rolled the whole transaction back, so
      // nothing of this batch is kept or acknowledged (later writes would otherwise run outside it).
      this.#abandon(batch, this.#noted(fault));
      return Promise.reject(fault);
    }
    const p = new Promise<void>((resolve, reject) => batch.push({ resolve, reject, error, undo: error ? undefined : undo }));
    if (!this.#groupCommit) this.flush();
    return p;
  }

  /** Rolls the open batch back and rejects its callers. */
  #abandon(batch: Entry[], reason: unknown): void {
    if (this.#batch === batch) this.#batch = null;
    try {
      this.#rollback.run();
    } catch {
      /* already rolled back by SQLite */
    }
    for (const w of batch) w.undo?.();
    for (const h of this.#after) h();
    for (const w of batch) w.reject(reason);
  }

  /** Records a storage fault (for readiness) and returns what callers are told. */
  #noted(e: unknown): unknown {
    const fault = sqliteFault(e);
    if (fault) {
      this.fault = fault;
      this.faultAt = Date.now();
    }
    return fault ?? e;
  }

  /** Like run(), then commits at once (with whatever else the open batch holds). */
  runNow(fn: () => void, undo?: () => void): Promise<void> {
    const p = this.run(fn, undo);
    this.flush();
    return p;
  }

  /** Commits the open batch, if any, and settles its callers. */
  flush(): void {
    const batch = this.#batch;
    if (!batch) return;
    this.#batch = null;
    this.commits++;
    let failure: unknown = null;
    try {
      for (const h of this.#before) h();
      this.#commit.run();
    } catch (e) {
      failure = this.#noted(e);
      try {
        this.#rollback.run();
      } catch {
        /* a failed COMMIT may already have rolled back */
      }
      for (const w of batch) w.undo?.();
    }
    // A committed write proves the storage takes writes again (an empty commit proves nothing).
    if (!failure && batch.some((w) => !w.error)) this.fault = null;
    for (const h of this.#after) h();
    for (const w of batch) {
      if (failure) w.reject(failure);
      else if (w.error) w.reject(w.error);
      else w.resolve();
    }
  }
}
