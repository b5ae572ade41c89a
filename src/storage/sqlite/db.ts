// The SQLite handle typed by the shape the adapters use (Kysely's approach): bun:sqlite's Database
// satisfies it, and so would better-sqlite3 or node:sqlite with a thin wrapper.

export interface SqliteStatement<Row = unknown> {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): Row | null;
  all(...params: unknown[]): Row[];
}

export interface SqliteDatabase {
  prepare<Row = unknown>(sql: string): SqliteStatement<Row>;
  exec(sql: string): void;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): ((...args: A) => R) & { immediate: (...args: A) => R };
  close(): void;
}

export interface Migration {
  /** e.g. "0001_init.sql" */
  name: string;
  sql: string;
}

/**
 * A migration whose first line is this marker rebuilds tables (SQLite's documented procedure for
 * schema changes ALTER TABLE cannot make): it runs with foreign keys off, so dropping the old tables
 * neither cascades nor checks row by row, and commits only if `PRAGMA foreign_key_check` then finds
 * no violation.
 */
export const FOREIGN_KEYS_OFF = "-- pexd:foreign_keys=off";

/** Applies pending migrations in name order, each in its own transaction, and records them. */
export function migrate(db: SqliteDatabase, migrations: Migration[]): string[] {
  db.exec(
    "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))) STRICT",
  );
  const done = new Set(
    db
      .prepare<{ name: string }>("SELECT name FROM schema_migrations")
      .all()
      .map((r) => r.name),
  );
  const record = db.prepare("INSERT INTO schema_migrations (name) VALUES (?)");
  const applied: string[] = [];
  for (const m of [...migrations].sort((a, b) => a.name.localeCompare(b.name))) {
    if (done.has(m.name)) continue;
    const rebuild = m.sql.startsWith(FOREIGN_KEYS_OFF);
    // The pragma is a no-op inside a transaction: it is set around it.
    const fks = rebuild ? (db.prepare<{ foreign_keys: number }>("PRAGMA foreign_keys").get()?.foreign_keys ?? 0) : 0;
    if (rebuild) db.exec("PRAGMA foreign_keys = OFF");
    try {
      db.transaction(() => {
        db.exec(m.sql);
        if (rebuild) {
          const broken = db.prepare<{ table: string; parent: string }>("PRAGMA foreign_key_check").all();
          if (broken.length)
            throw new Error(
              `migration ${m.name} breaks ${broken.length} foreign key(s), first: ${broken[0]!.table} -> ${broken[0]!.parent}`,
            );
        }
        record.run(m.name);
      }).immediate();
    } finally {
      if (rebuild) db.exec(`PRAGMA foreign_keys = ${fks ? "ON" : "OFF"}`);
    }
    applied.push(m.name);
  }
  return applied;
}
