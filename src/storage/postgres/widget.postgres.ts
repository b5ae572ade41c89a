// PostgreSQL adapter of the widgets port. Each mutation is one operation of widget_apply()
// (db/postgres/0002_widget_functions.sql), which checks, locks and writes in the database, so the
// rules hold however many pexd instances share it. With group commit (the default) the mutations
// of one event-loop turn travel as one batch: one function call, one round trip, one commit (one
// WAL flush), and every caller is answered after that commit with its own outcome. A few batches
// may be in flight at once, on separate pooled connections. Deadlocks and serialization failures
// are retried with jittered backoff, so callers only ever see WidgetStoreError reasons (or an
// outage). Reads are single statements on the pool, so they see every acknowledged commit.
import { nextTurn } from "../../next-turn.ts";
import { WidgetStoreError, type NewWidget, type PortType, type Widget, type WidgetPage, type WidgetStore } from "../widget.port.ts";
import { backoffMs, classifyPgError, type PgClient, sleep } from "./pg.ts";

export interface PostgresWidgetStoreOptions {
  /** Batch the mutations of one event-loop turn into one call and one commit (default true). */
  groupCommit?: boolean;
  /**
   * Batches in flight at once, each on its own connection (default 2: the server works on two
   * while the next one fills; more means smaller batches, so more commits for the same work).
   * Without group commit there is no limit but the pool's.
   */
  maxInFlight?: number;
  /** Most mutations in one batch (default 256): bounds one transaction's locks and duration. */
  maxBatch?: number;
  /** Attempts of a batch that meets a deadlock or serialization failure (default 10). */
  attempts?: number;
  /** When a batch is sent (default: the end of the current event-loop turn). */
  schedule?: (fn: () => void) => void;
}

type Kind = "A" | "R" | "S" | "D";

interface Op {
  k: Kind;
  x: string;
  y: string | null;
  z: string | null;
  resolve(): void;
  reject(e: unknown): void;
}

/** A widget row: its slots in creation order as JSON [port, partner serial number or null] pairs (null: no slots). */
interface WidgetRow {
  sn: string;
  name: string;
  slots: [PortType, string | null][] | null;
}

const APPLY = "SELECT widget_apply($1::text[], $2::text[], $3::text[], $4::text[]) AS codes";
/**
 * The slots as a correlated subquery: evaluated only for the rows the LIMIT lets through, and every
 * plan of it (custom or generic) is index lookups: the serial number index in order, then the
 * slots and partners by id.
 */
const SLOTS = `(SELECT json_agg(json_build_array(s.port, p.serial_number) ORDER BY s.ordinal)
  FROM widget_slots s LEFT JOIN widgets p ON p.id = s.partner_id WHERE s.widget_id = w.id) AS slots`;
const GET = `SELECT w.serial_number AS sn, w.name, ${SLOTS} FROM widgets w WHERE w.serial_number = $1`;
const PAGE = `SELECT w.serial_number AS sn, w.name, ${SLOTS} FROM widgets w WHERE w.serial_number > $1 ORDER BY w.serial_number LIMIT $2`;

/** NUL cannot be stored in PostgreSQL text and a lone surrogate has no UTF-8 form: no serial number holds either. */
const UNSTORABLE = /[\0\p{Cs}]/u;
const PORTS = /^[PRQ]{0,3}$/;
const chars = (s: string) => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

export class PostgresWidgetStore implements WidgetStore {
  #client: PgClient;
  #count = 0;
  #queue: Op[] = [];
  #scheduled = false;
  #inFlight = 0;
  #idle: (() => void)[] = [];
  #maxInFlight: number;
  #maxBatch: number;
  #attempts: number;
  #schedule: (fn: () => void) => void;
  /** Batches sent (observability and tests). */
  batches = 0;
  /** Batches sent again after a deadlock or serialization failure (tests). */
  retries = 0;

  constructor(client: PgClient, opts: PostgresWidgetStoreOptions = {}) {
    this.#client = client;
    const group = opts.groupCommit ?? true;
    this.#maxBatch = group ? Math.max(1, opts.maxBatch ?? 256) : 1;
    this.#maxInFlight = group ? Math.max(1, opts.maxInFlight ?? 2) : Number.POSITIVE_INFINITY;
    this.#attempts = Math.max(1, opts.attempts ?? 10);
    this.#schedule = opts.schedule ?? nextTurn;
  }

  /** A store with its count loaded (the sum of 64 counter rows, no scan). */
  static async open(client: PgClient, opts: PostgresWidgetStoreOptions = {}): Promise<PostgresWidgetStore> {
    const store = new PostgresWidgetStore(client, opts);
    await store.reloadCount();
    return store;
  }

  /** Reads the committed count again (start-up; other instances' changes since). */
  async reloadCount(): Promise<number> {
    const [row] = await this.#client.unsafe<{ n: string | number }>("SELECT widget_count() AS n");
    return (this.#count = Number(row?.n ?? 0));
  }

  /**
   * The count as of start-up plus this process's committed adds and removes. It does not see other
   * instances' changes until reloadCount(); keeping it exact across instances would mean reading
   * the counter rows on every call (count() is synchronous) or a hot row in every transaction.
   */
  count(): number {
    return this.#count;
  }

  add(w: NewWidget): Promise<void> {
    const slots = w.slots.join("");
    if (w.slots.length > 3 || !PORTS.test(slots)) {
      return Promise.reject(new WidgetStoreError("invalid_widget", "a widget has at most 3 slots, of types P, R and Q", w.sn));
    }
    const sn = chars(w.sn);
    const name = chars(w.name);
    if (sn < 1 || sn > 128 || name < 1 || name > 256 || UNSTORABLE.test(w.sn) || UNSTORABLE.test(w.name)) {
      return Promise.reject(new WidgetStoreError("invalid_widget", "invalid widget serial number or name", w.sn));
    }
    return this.#enqueue("A", w.sn, w.name, slots);
  }

  remove(sn: string): Promise<void> {
    if (UNSTORABLE.test(sn)) return Promise.reject(notFound(sn));
    return this.#enqueue("R", sn, null, null);
  }

  associate(sn1: string, sn2: string, port: PortType): Promise<void> {
    return this.#pair("S", sn1, sn2, port);
  }

  dissociate(sn1: string, sn2: string, port: PortType): Promise<void> {
    return this.#pair("D", sn1, sn2, port);
  }

  async get(sn: string): Promise<Widget | null> {
    if (UNSTORABLE.test(sn)) return null;
    const [row] = await this.#client.unsafe<WidgetRow>(GET, [sn]);
    return row ? view(row) : null;
  }

  async list(after: string | null, limit: number): Promise<WidgetPage> {
    if (!(limit >= 1)) return { items: [], next: null };
    // "" sorts before every serial number; a serial number never holds NUL, so the part of `after`
    // before one bounds the same page. One widget more than asked says whether a next page exists.
    const from = after === null ? "" : after.split("\0", 1)[0]!;
    const rows = await this.#client.unsafe<WidgetRow>(PAGE, [from, Math.floor(limit) + 1]);
    const more = rows.length > limit;
    const items = (more ? rows.slice(0, limit) : rows).map(view);
    return { items, next: more ? items[items.length - 1]!.widget_sn : null };
  }

  /** Waits until every mutation asked for so far is answered. */
  async close(): Promise<void> {
    this.#pump();
    while (this.#inFlight > 0 || this.#queue.length > 0) await new Promise<void>((r) => this.#idle.push(r));
  }

  #pair(k: Kind, sn1: string, sn2: string, port: PortType): Promise<void> {
    if (sn1 === sn2) return Promise.reject(new WidgetStoreError("self_association", "a widget cannot be associated with itself", sn1));
    if (UNSTORABLE.test(sn1)) return Promise.reject(notFound(sn1));
    if (UNSTORABLE.test(sn2)) return Promise.reject(notFound(sn2));
    return this.#enqueue(k, sn1, sn2, port);
  }

  #enqueue(k: Kind, x: string, y: string | null, z: string | null): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ k, x, y, z, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        this.#schedule(() => {
          this.#scheduled = false;
          this.#pump();
        });
      }
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      this.#inFlight++;
      void this.#run(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
        if (this.#inFlight === 0 && this.#queue.length === 0) for (const r of this.#idle.splice(0)) r();
      });
    }
  }

  /** Sends one batch (again after a deadlock), then answers each caller. */
  async #run(batch: Op[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let codes: ArrayLike<number>;
      try {
        codes = await this.#call(batch);
      } catch (e) {
        const kind = classifyPgError(e);
        if (kind === "retry" && attempt < this.#attempts) {
          this.retries++;
          await sleep(backoffMs(attempt));
          continue;
        }
        // One operation broke a rule the checks above do not cover (a constraint, an encoding):
        // run them one by one so only that caller gets the error.
        if (batch.length > 1 && (kind === "invalid" || kind === "duplicate" || kind === "other")) {
          for (const op of batch) await this.#run([op]);
          return;
        }
        for (const op of batch) op.reject(batch.length === 1 ? refusal(op, kind, e) : e);
        return;
      }
      for (const [i, op] of batch.entries()) {
        const code = codes[i] ?? -1;
        if (code === 0) {
          if (op.k === "A") this.#count++;
          else if (op.k === "R") this.#count--;
          op.resolve();
        } else op.reject(refused(op, code));
      }
      return;
    }
  }

  async #call(batch: Op[]): Promise<ArrayLike<number>> {
    this.batches++;
    const [row] = await this.#client.unsafe<{ codes: ArrayLike<number> }>(APPLY, [
      batch.map((o) => o.k),
      batch.map((o) => o.x),
      batch.map((o) => o.y),
      batch.map((o) => o.z),
    ]);
    if (!row || row.codes.length !== batch.length) throw new Error("widget_apply returned no outcome for some operations");
    return row.codes;
  }
}

const notFound = (sn: string) => new WidgetStoreError("widget_not_found", `no widget ${sn}`, sn);

const view = (r: WidgetRow): Widget => ({
  widget_sn: r.sn,
  widget_name: r.name,
  slots: (r.slots ?? []).map(([port, partner]) => ({ port, associated_with: partner })),
});

/** The WidgetStoreError for a widget_apply result code. */
function refused(op: Op, code: number): Error {
  const { x, z } = op;
  const y = op.y ?? "";
  switch (code) {
    case 1:
      return new WidgetStoreError("duplicate", `widget ${x} already exists`, x);
    case 2:
      return notFound(x);
    case 3:
      return notFound(y);
    case 4:
      return new WidgetStoreError("association_not_found", `${x} and ${y} are not associated on port ${z}`, x);
    case 5:
      return new WidgetStoreError("already_associated", `${x} and ${y} are already associated on port ${z}`, x);
    case 6:
      return new WidgetStoreError("no_free_slot", `widget ${x} has no free ${z} slot`, x);
    case 7:
      return new WidgetStoreError("no_free_slot", `widget ${y} has no free ${z} slot`, y);
    case 8:
      return new WidgetStoreError("self_association", "a widget cannot be associated with itself", x);
    default:
      return new Error(`widget_apply: unexpected outcome ${code}`);
  }
}

/** A lone operation's database error: a broken rule becomes its WidgetStoreError, anything else passes through. */
function refusal(op: Op, kind: string, e: unknown): unknown {
  if (kind === "duplicate" && op.k === "A") return new WidgetStoreError("duplicate", `widget ${op.x} already exists`, op.x);
  if (kind === "invalid" && op.k === "A") return new WidgetStoreError("invalid_widget", "invalid widget serial number or name", op.x);
  return e;
}
