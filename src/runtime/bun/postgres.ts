// Bun's PostgreSQL client: a connection pool on PEXD_DATABASE_URL with the migrations of
// db/postgres/ (embedded: see migrations.ts) applied (src/storage/postgres/pg.ts). The URL carries a password: messages name the
// host and port only.
import { SQL } from "bun";
import { resolve } from "node:path";
import { StorageOpenError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { migratePostgres, type PgMigration } from "../../storage/postgres/pg.ts";
import { PG_MIGRATIONS, readMigrationDir } from "./migrations.ts";

/** The source tree's migrations directory (tests and tools; the service applies the embedded list). */
export const PG_MIGRATIONS_DIR = resolve(import.meta.dir, "../../../db/postgres");

/** The migrations of db/postgres/ embedded at build time; with `dir`, the files of that directory instead. */
export function loadPgMigrations(dir?: string): PgMigration[] {
  return dir === undefined ? PG_MIGRATIONS.map((m) => ({ ...m })) : readMigrationDir(dir);
}

export interface OpenPostgresOptions {
  /** Pool size (default 16): group-committed widget batches, relay batches and reads share it. */
  max?: number;
  /** Default: every file of db/postgres/; [] applies none. */
  migrations?: PgMigration[];
  log?: Logger;
}

/** "host:port" of a PostgreSQL URL, safe to log; never the user, password or query. */
export function pgLocation(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || "localhost"}:${u.port || "5432"}`;
  } catch {
    return "(unparsable URL)";
  }
}

/** The pool, migrated; a database that cannot be reached or migrated is a StorageOpenError. */
export async function openPostgres(url: string, opts: OpenPostgresOptions = {}): Promise<SQL> {
  const where = pgLocation(url);
  const secrets = [url];
  let sql: SQL | undefined;
  try {
    const u = new URL(url);
    if (u.password) secrets.push(u.password, decodeURIComponent(u.password));
    // jit off: short index lookups only; a generic plan's inflated estimate must not buy a JIT compile.
    const connection = { application_name: "pexd", jit: "off" };
    sql = new SQL(url, { max: opts.max ?? 16, idleTimeout: 60, connectionTimeout: 10, connection });
    const applied = await migratePostgres(sql, opts.migrations ?? loadPgMigrations());
    if (applied.length) opts.log?.info("migrations applied", { applied, database: where });
    return sql;
  } catch (e) {
    await sql?.close({ timeout: 0 }).catch(() => {});
    let reason = e instanceof Error ? e.message : String(e);
    for (const s of secrets) if (s) reason = reason.split(s).join("***");
    throw new StorageOpenError(`cannot open the PostgreSQL database at ${where}: ${reason}`);
  }
}
