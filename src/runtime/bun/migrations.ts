// Every migration of db/sqlite/ and db/postgres/, imported as text: `bun build --compile` embeds them
// in dist/pexd (which reads nothing of the source tree at run time), and a run from source applies
// exactly the same list. A migration added to either directory must be listed here too:
// test/binary.test.ts fails until it is (and checks each text against its file).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pg0001 from "../../../db/postgres/0001_init.sql" with { type: "text" };
import pg0002 from "../../../db/postgres/0002_widget_functions.sql" with { type: "text" };
import pg0003 from "../../../db/postgres/0003_relay_functions.sql" with { type: "text" };
import pg0009 from "../../../db/postgres/0009_fib_steps.sql" with { type: "text" };
import sqlite0001 from "../../../db/sqlite/0001_fib.sql" with { type: "text" };
import sqlite0002 from "../../../db/sqlite/0002_widgets.sql" with { type: "text" };
import sqlite0003 from "../../../db/sqlite/0003_relay.sql" with { type: "text" };
import sqlite0004 from "../../../db/sqlite/0004_storage_probe.sql" with { type: "text" };
import sqlite0005 from "../../../db/sqlite/0005_widgets_by_serial_number.sql" with { type: "text" };

export interface MigrationText {
  /** The file name, e.g. "0001_init.sql": recorded in schema_migrations. */
  name: string;
  sql: string;
}

/** db/sqlite/, in name order. */
export const SQLITE_MIGRATIONS: readonly MigrationText[] = [
  { name: "0001_fib.sql", sql: sqlite0001 },
  { name: "0002_widgets.sql", sql: sqlite0002 },
  { name: "0003_relay.sql", sql: sqlite0003 },
  { name: "0004_storage_probe.sql", sql: sqlite0004 },
  { name: "0005_widgets_by_serial_number.sql", sql: sqlite0005 },
];

/** db/postgres/, in name order. */
export const PG_MIGRATIONS: readonly MigrationText[] = [
  { name: "0001_init.sql", sql: pg0001 },
  { name: "0002_widget_functions.sql", sql: pg0002 },
  { name: "0003_relay_functions.sql", sql: pg0003 },
  { name: "0009_fib_steps.sql", sql: pg0009 },
];

/** A migration file's name: four digits, an underscore, a word, ".sql". */
export const MIGRATION_FILE = /^\d{4}_[\w-]+\.sql$/;

/** The migrations in a directory on disk, in name order (tests, tools; the service uses the lists above). */
export function readMigrationDir(dir: string): MigrationText[] {
  return readdirSync(dir)
    .filter((f) => MIGRATION_FILE.test(f))
    .sort()
    .map((name) => ({ name, sql: readFileSync(join(dir, name), "utf8") }));
}
