// The counter on PostgreSQL (a throwaway server, test/helpers/postgres.ts): the FibStore contract,
// then what only a shared row can break: several instances (pools) applying batches at once hand
// out every index exactly once, and FibService over two instances answers exactly 1..N.
import type { SQL } from "bun";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { FibService } from "../../src/fib/fib.service.ts";
import { silentLogger as log } from "../../src/log.ts";
import { openPostgres } from "../../src/runtime/bun/postgres.ts";
import { PostgresFibStore } from "../../src/storage/postgres/fib.postgres.ts";
import type { FibStore } from "../../src/storage/ports.ts";
import { startPostgres, type PgServer } from "../helpers/postgres.ts";
import { fibStoreContract } from "./fib.contract.ts";
import { need, skipping } from "../helpers/requirements.ts";

let pg: PgServer;
const pools = new Set<SQL>();
const urlOf = new WeakMap<FibStore, string>();

// Needs real servers: a missing one fails with the command that installs it; PEXD_TEST_SKIP skips.
describe.skipIf(skipping("postgres"))("PostgreSQL counter", () => {
  beforeAll(async () => {
    need("postgres");
    pg = await startPostgres();
  });

  afterAll(async () => {
    for (const p of pools) await p.close({ timeout: 0 }).catch(() => {});
    await pg?.stop();
  });

  async function store(url: string): Promise<PostgresFibStore> {
    const sql = await openPostgres(url, { max: 4 });
    pools.add(sql);
    const s = new PostgresFibStore(sql);
    urlOf.set(s, url);
    return s;
  }

  fibStoreContract("postgres", {
    make: async () => store(await pg.createDatabase()),
    reopen: async (s) => store(urlOf.get(s)!),
  });

  describe("the counter on PostgreSQL, several instances", () => {
    test("three pools applying batches at once: every start distinct, no step lost", async () => {
      const url = await pg.createDatabase();
      const stores = await Promise.all([store(url), store(url), store(url)]);
      const starts = (await Promise.all(Array.from({ length: 60 }, (_, i) => stores[i % 3]!.apply(["next", "next", "next"])))).sort(
        (a, b) => a - b,
      );
      expect(starts).toEqual(Array.from({ length: 60 }, (_, i) => 3 * i));
      expect(await stores[0]!.load()).toBe(180);
    });

    test("FibService on two instances: 400 concurrent next() answer exactly 1..400 with the right values", async () => {
      const url = await pg.createDatabase();
      const [a, b] = await Promise.all([
        FibService.open(await store(url), { flushMs: 0, log }),
        FibService.open(await store(url), { flushMs: 0, log }),
      ]);
      const answers = await Promise.all(Array.from({ length: 400 }, (_, i) => (i % 2 ? a : b).next()));
      const byIndex = new Map(answers.map((s) => [s.index, s.value]));
      expect([...byIndex.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
      expect(answers).toHaveLength(400);
      // F(n) from the definition, for every answer.
      let [x, y] = [0n, 1n];
      for (let n = 1; n <= 400; n++) {
        [x, y] = [y, x + y];
        expect(byIndex.get(n)).toBe(x.toString());
      }
      expect(await a.current()).toEqual({ index: 400, value: x.toString() });
      await a.close();
      await b.close();
    });

    test("a failed batch (the database gone) rejects its callers and acknowledges nothing", async () => {
      const url = await pg.createDatabase();
      const s = await store(url);
      const svc = await FibService.open(s, { flushMs: 0, log });
      expect((await svc.next()).index).toBe(1);
      await pg.sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${new URL(url).pathname.slice(1)}'`);
      await pg.sql(`ALTER DATABASE "${new URL(url).pathname.slice(1)}" WITH ALLOW_CONNECTIONS false`);
      const r = await Promise.allSettled([svc.next(), svc.next()]);
      expect(r.every((x) => x.status === "rejected")).toBe(true);
      await pg.sql(`ALTER DATABASE "${new URL(url).pathname.slice(1)}" WITH ALLOW_CONNECTIONS true`);
      // Nothing was acknowledged after 1, and the next step continues from what was committed.
      const after = await svc.next();
      expect(after.index).toBeGreaterThanOrEqual(2);
      expect(after.index).toBeLessThanOrEqual(4);
      await svc.close();
    });
  });
});
