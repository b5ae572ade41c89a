// What every module's wiring function receives from main.ts.
import type { Database } from "bun:sqlite";
import type { Config } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { PexdModule } from "../../module.ts";
import type { HeadSource } from "../../relay/watcher.ts";
import type { SqliteCommitter } from "../../storage/sqlite/committer.ts";

export interface WireContext {
  config: Config;
  log: Logger;
  /** The one SQLite database (WAL, migrations applied). */
  db: Database;
  /** The database's shared write transaction: stores write only through it (group commit). */
  tx: SqliteCommitter;
  /** What one wiring offers to the ones after it (e.g. the eth head tracker to the relay watcher). */
  shared: { heads?: HeadSource };
}

export type Wire = (ctx: WireContext) => Promise<PexdModule | null>;
