// The PostgreSQL handle typed by the shape the adapters use (as db.ts does for SQLite): Bun's SQL
// client satisfies it as it is (test/contracts/postgres.test.ts assigns one without a cast), and a
// thin wrapper would make postgres.js or node-postgres fit. Also the migration runner and the
// classification of PostgreSQL errors by SQLSTATE.

export interface PgQueryable {
  /** Runs one parameterised statement ($1, $2 …), or several statements when `params` is absent. */
  unsafe<T = Record<string, unknown>>(query: string, params?: unknown[]): Promise<T[]>;
}

export interface PgClient extends PgQueryable {
  /** Runs `fn` in a transaction on one connection: COMMIT when it resolves, ROLLBACK when it throws. */
  begin<T>(fn: (tx: PgQueryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface PgMigration {
  /** e.g. "0001_init.sql" */
  name: string;
  sql: string;
}

export interface MigrateOptions {
  /** The advisory lock key that serialises migrations (one per schema sharing a database). */
  lockKey?: number;
}

/** "pexd" in ASCII: the default advisory lock key of the migrations. */
export const MIGRATION_LOCK_KEY = 0x70657864;

/**
 * Applies pending migrations in name order, each in its own transaction together with its row in
 * schema_migrations. Every transaction first takes a transaction-scoped advisory lock, then checks
 * whether the migration is recorded: N instances starting together apply each migration exactly
 * once (the others wait for the lock, then find it recorded). Returns the names this call applied.
 * A migration must not contain transaction control (BEGIN, COMMIT, CREATE INDEX CONCURRENTLY).
 */
export async function migratePostgres(client: PgClient, migrations: PgMigration[], opts: MigrateOptions = {}): Promise<string[]> {
  const key = opts.lockKey ?? MIGRATION_LOCK_KEY;
  const lock = (tx: PgQueryable) => tx.unsafe("SELECT pg_advisory_xact_lock($1::bigint)", [key]);
  await client.begin(async (tx) => {
    await lock(tx);
    // IF NOT EXISTS alone is not safe against a concurrent CREATE; under the lock it is.
    await tx.unsafe("CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
  });
  const done = new Set((await client.unsafe<{ name: string }>("SELECT name FROM schema_migrations")).map((r) => r.name));
  const applied: string[] = [];
  for (const m of [...migrations].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (done.has(m.name)) continue;
    const ran = await client.begin(async (tx) => {
      await lock(tx);
      if ((await tx.unsafe("SELECT 1 FROM schema_migrations WHERE name = $1", [m.name])).length) return false;
      try {
        await tx.unsafe(m.sql);
      } catch (e) {
        const reason = e instanceof Error ? e.message : String(e);
        throw new Error(`migration ${m.name} failed: ${reason}`, { cause: e });
      }
      await tx.unsafe("INSERT INTO schema_migrations (name) VALUES ($1)", [m.name]);
      return true;
    });
    if (ran) applied.push(m.name);
  }
  return applied;
}

/** What a PostgreSQL failure means to the caller. */
export type PgErrorKind =
  /** 40001 serialization_failure, 40P01 deadlock_detected, 55P03 lock_not_available: run the transaction again. */
  | "retry"
  /** 23505 unique_violation. */
  | "duplicate"
  /** 53100 disk_full. */
  | "disk_full"
  /** 25006 read_only_sql_transaction: connected to a standby or a read-only database. */
  | "read_only"
  /** 08xxx connection exceptions, 57P01..57P03 shutdown / cannot connect now, 53xxx lack of resources, a lost socket. */
  | "unavailable"
  /** 22xxx data exceptions and 23xxx constraint violations other than 23505: this input is refused. */
  | "invalid"
  | "other";

/** The SQLSTATE of a driver error: `errno` on Bun's SQL, `code` on postgres.js and node-postgres. */
export function sqlState(e: unknown): string | null {
  if (typeof e !== "object" || e === null) return null;
  for (const k of ["errno", "code", "sqlState"] as const) {
    const v = (e as Record<string, unknown>)[k];
    if (typeof v === "string" && /^[0-9A-Z]{5}$/.test(v)) return v;
  }
  return null;
}

/** Connection-level failures reported by the driver without a SQLSTATE (Bun's ERR_POSTGRES_*, socket errnos). */
const CONNECTION_CODE =
  /^(ERR_POSTGRES_(CONNECTION_CLOSED|CONNECTION_REFUSED|CONNECTION_FAILED|CONNECTION_TIMEOUT|IDLE_TIMEOUT|LIFETIME_TIMEOUT|TLS_NOT_AVAILABLE|TLS_UPGRADE_FAILED)|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)$/;

export function classifyPgError(e: unknown): PgErrorKind {
  const state = sqlState(e);
  if (state === null) {
    const code = typeof e === "object" && e !== null ? (e as { code?: unknown }).code : undefined;
    return typeof code === "string" && CONNECTION_CODE.test(code) ? "unavailable" : "other";
  }
  switch (state) {
    case "40001":
    case "40P01":
    case "55P03":
      return "retry";
    case "23505":
      return "duplicate";
    case "53100":
      return "disk_full";
    case "25006":
      return "read_only";
    case "57P01":
    case "57P02":
    case "57P03":
      return "unavailable";
  }
  if (state.startsWith("08") || state.startsWith("53")) return "unavailable";
  if (state.startsWith("22") || state.startsWith("23")) return "invalid";
  return "other";
}

export const isRetryable = (e: unknown): boolean => classifyPgError(e) === "retry";

/** Jittered exponential backoff before retry `attempt` (1, 2, …): ~2, 4, 8 … ms, capped at 100 ms. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(100, 2 ** attempt);
  return base / 2 + random() * base;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
