// What every module's wiring function receives from main.ts.
import type { Database } from "bun:sqlite";
import type { Config } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { PexdModule } from "../../module.ts";
import type { SqliteCommitter } from "../../storage/sqlite/committer.ts";

export interface WireContext {
  config: Config;
  log: Logger;
  /** The one SQLite database (WAL, migrations applied). */
  db: Database;
  /** The database's shared write transaction: stores write only through it (group commit). */
  tx: SqliteCommitter;
}

export type Wire = (ctx: WireContext) => Promise<PexdModule | null>;
