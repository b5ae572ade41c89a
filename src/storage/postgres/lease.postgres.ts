// The relay watcher's lease on PostgreSQL: a session advisory lock held on one reserved connection.
// Whoever holds it runs the watcher; if that process dies its connection drops, the server releases
// the lock, and another instance takes it on its next try (every second): a takeover within ~2 s
// (~6 s when the holder's whole host vanishes: server-side TCP keepalives notice that).
// The holder's progress (the last block every target acknowledged) lives in relay_watcher_progress.
import type { Lease } from "../ports.ts";
import type { PgQueryable } from "./pg.ts";

/** A connection of the pool kept for one caller (Bun's SQL: reserve()). */
export interface PgReserved extends PgQueryable {
  release(): void;
}

export interface PgReserver extends PgQueryable {
  reserve(): Promise<PgReserved>;
}

/** "rlay" in ASCII: the advisory lock key of the relay watcher. */
export const RELAY_LEASE_KEY = 0x726c6179;

export class PostgresLease implements Lease {
  readonly #pool: PgReserver;
  readonly #key: number;
  #conn: PgReserved | null = null;
  #held = false;

  constructor(pool: PgReserver, key = RELAY_LEASE_KEY) {
    this.#pool = pool;
    this.#key = key;
  }

  async tryAcquire(): Promise<boolean> {
    try {
      if (this.#held && this.#conn) {
        // Held as long as the session lives: a failing round trip means it may be gone.
        await this.#conn.unsafe("SELECT 1");
        return true;
      }
      if (!this.#conn) {
        this.#conn = await this.#pool.reserve();
        // If the holder's host vanishes (no FIN), the server finds out from TCP keepalives within
        // ~4 s and releases the lock, instead of after the kernel's default two hours.
        await this.#conn.unsafe("SET tcp_keepalives_idle = 2; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 2");
      }
      const [row] = await this.#conn.unsafe<{ ok: boolean }>("SELECT pg_try_advisory_lock($1::bigint) AS ok", [this.#key]);
      this.#held = row?.ok === true;
      if (!this.#held) this.#drop(); // a follower keeps no connection reserved
      return this.#held;
    } catch {
      this.#drop();
      return false;
    }
  }

  async release(): Promise<void> {
    if (this.#conn && this.#held) await this.#conn.unsafe("SELECT pg_advisory_unlock($1::bigint)", [this.#key]).catch(() => {});
    this.#drop();
  }

  async progress(): Promise<bigint | null> {
    const [row] = await this.#pool.unsafe<{ last_block: string | number }>("SELECT last_block FROM relay_watcher_progress WHERE id = 1");
    return row ? BigInt(row.last_block) : null;
  }

  async saveProgress(block: bigint): Promise<void> {
    await this.#pool.unsafe(
      `INSERT INTO relay_watcher_progress (id, last_block) VALUES (1, $1::bigint)
       ON CONFLICT (id) DO UPDATE SET last_block = GREATEST(relay_watcher_progress.last_block, excluded.last_block), at = now()`,
      [block.toString()],
    );
  }

  #drop(): void {
    this.#held = false;
    try {
      this.#conn?.release();
    } catch {
      /* a dead connection */
    }
    this.#conn = null;
  }
}
