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
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.name);
    }).immediate();
    applied.push(m.name);
  }
  return applied;
}
