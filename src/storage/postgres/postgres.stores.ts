// Every store on one PostgreSQL database shared by any number of pexd instances: the counter's row,
// widgets and relay tables, and the relay watcher's lease. The runtime opens the pool (Bun's SQL in
// src/runtime/bun/postgres.ts, migrations applied) and hands it in, typed by shape.
import type { Stores } from "../ports.ts";
import { StorageFault } from "../storage.errors.ts";
import { PostgresFibStore } from "./fib.postgres.ts";
import { PostgresLease, type PgReserver } from "./lease.postgres.ts";
import { classifyPgError, type PgClient } from "./pg.ts";
import { PostgresRelayStore } from "./relay.postgres.ts";
import { PostgresWidgetStore } from "./widget.postgres.ts";

export async function postgresStores(pool: PgClient & PgReserver, location: string): Promise<Stores> {
  const widgets = await PostgresWidgetStore.open(pool);
  const relay = new PostgresRelayStore(pool);
  const lease = new PostgresLease(pool);
  const health: FaultRecord = { fault: null, at: 0 };
  return {
    fib: faultsMapped(new PostgresFibStore(pool), health),
    widgets: faultsMapped(widgets, health),
    relay: faultsMapped(relay, health),
    watcherLease: lease,
    location,
    // Known health: a write refused in the last second, or a database that does not answer.
    check: async () => {
      if (health.fault && Date.now() - health.at < FAULT_MEMORY_MS) throw new Error(health.fault.message);
      try {
        await pool.unsafe("SELECT 1");
      } catch (e) {
        throw new Error(`the database does not answer (${classifyPgError(e)})`);
      }
    },
    close: async () => {
      await relay.close();
      await widgets.close();
      await lease.release();
      await pool.close();
    },
  };
}

/** How long a refused write keeps /ready at 503 (unless the database stops answering altogether). */
const FAULT_MEMORY_MS = 1000;
/**
 * A call the database has not answered by then is answered 503 (a frozen server or a dropped
 * network holds connections open without a word; the driver has no query timeout). The statement
 * may still complete later: like any failed call, its outcome is unknown to the caller.
 */
export const PG_CALL_DEADLINE_MS = 5000;

interface FaultRecord {
  fault: StorageFault | null;
  at: number;
}

/**
 * The store with every failure of its methods that is the database's (disk full, read-only, gone)
 * turned into a StorageFault — answered 507 / 503 like SQLite's — and remembered for /ready.
 */
function faultsMapped<T extends object>(store: T, health: FaultRecord): T {
  const mapped = (e: unknown) => {
    const fault = e instanceof StorageFault ? e : pgFault(e);
    if (!fault) return e;
    health.fault = fault;
    health.at = Date.now();
    return fault;
  };
  // One wrapper per method, made on first use (not one closure per call on the request path).
  const wrapped = new Map<PropertyKey, (...args: unknown[]) => unknown>();
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      const known = wrapped.get(prop);
      if (known) return known;
      const wrapper = (...args: unknown[]) => {
        let result: unknown;
        try {
          result = (value as (...a: unknown[]) => unknown).apply(target, args);
        } catch (e) {
          throw mapped(e);
        }
        if (!(result instanceof Promise)) return result;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new StorageFault("unavailable", `the database did not answer within ${PG_CALL_DEADLINE_MS} ms`, "timeout")),
            PG_CALL_DEADLINE_MS,
          );
        });
        result.catch(() => {}); // settled after the deadline: already answered
        return Promise.race([result, deadline])
          .catch((e: unknown) => {
            throw mapped(e);
          })
          .finally(() => clearTimeout(timer));
      };
      wrapped.set(prop, wrapper);
      return wrapper;
    },
  });
}

/** The StorageFault a PostgreSQL error stands for, or null (the request's own fault, or a bug). */
export function pgFault(e: unknown): StorageFault | null {
  const kind = classifyPgError(e);
  const code = (e as { errno?: unknown; code?: unknown } | null)?.errno ?? (e as { code?: unknown } | null)?.code;
  if (kind === "disk_full") return new StorageFault("full", "the database's disk is full: the write was not stored", String(code));
  if (kind === "read_only" || kind === "unavailable")
    return new StorageFault("unavailable", `the database refused the write (${kind})`, String(code ?? kind));
  return null;
}
