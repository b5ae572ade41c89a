// The PostgreSQL adapters on a throwaway server (test/helpers/postgres.ts): the shared contract
// suites, each store on a fresh database copied from a migrated template, then what only a shared
// database can break: two instances (two pools) competing on the same widgets, deadlock and
// serialization retries, concurrent migrations, and first-copy-wins across instances.
import { SQL } from "bun";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadPgMigrations, openPostgres, pgLocation } from "../../src/runtime/bun/postgres.ts";
import { classifyPgError, migratePostgres, type PgClient, type PgQueryable } from "../../src/storage/postgres/pg.ts";
import { PostgresRelayStore } from "../../src/storage/postgres/relay.postgres.ts";
import { PostgresWidgetStore, type PostgresWidgetStoreOptions } from "../../src/storage/postgres/widget.postgres.ts";
import type { RelayFrame, RelayStore } from "../../src/storage/relay.port.ts";
import { WidgetStoreError, type PortType, type WidgetStore } from "../../src/storage/widget.port.ts";
import { startPostgres, type PgServer } from "../helpers/postgres.ts";
import { until } from "../helpers/wait.ts";
import { relayStoreContract } from "./relay.contract.ts";
import { widgetStoreContract } from "./widget.contract.ts";
import { mulberry32 } from "../../scripts/lib/mulberry32.ts";
import { need, skipping } from "../helpers/requirements.ts";

// Bun's client is a PgClient as it is: this line fails the type check otherwise.
const asClient = (sql: SQL): PgClient => sql;

const TEMPLATE = "pexd_template";
let pg: PgServer;
const clients = new Set<SQL>();

// Needs real servers: a missing one fails with the command that installs it; PEXD_TEST_SKIP skips.
describe.skipIf(skipping("postgres"))("PostgreSQL adapters", () => {
  beforeAll(async () => {
    need("postgres");
    // A short deadlock_timeout so the deadlock test does not wait the default second.
    pg = await startPostgres({ settings: { deadlock_timeout: "200ms" } });
    await pg.sql(`CREATE DATABASE ${TEMPLATE}`);
    const sql = await openPostgres(pg.urlOf(TEMPLATE), { max: 1 });
    await sql.close();
  });

  afterAll(async () => {
    await Promise.all([...clients].map((c) => c.close({ timeout: 0 }).catch(() => {})));
    await pg?.stop();
  });

  async function connect(url: string, max = 4): Promise<SQL> {
    const sql = await openPostgres(url, { max });
    clients.add(sql);
    return sql;
  }

  async function closeClient(sql: SQL): Promise<void> {
    clients.delete(sql);
    await sql.close();
  }

  /** The database (URL) and pool behind each store, so reopen() can start over on the same data. */
  const dbOf = new WeakMap<object, { url: string; sql: SQL }>();

  async function freshDb(): Promise<string> {
    return pg.createDatabase(TEMPLATE);
  }

  for (const groupCommit of [true, false]) {
    const widgets = async (url: string) => {
      const sql = await connect(url);
      const store = await PostgresWidgetStore.open(asClient(sql), { groupCommit });
      dbOf.set(store, { url, sql });
      return store;
    };
    widgetStoreContract(`postgres (group commit ${groupCommit ? "on" : "off"})`, {
      make: async () => widgets(await freshDb()),
      reopen: async (s: WidgetStore) => {
        await s.close();
        const { url, sql } = dbOf.get(s)!;
        await closeClient(sql);
        return widgets(url);
      },
    });
  }

  const relay = async (url: string) => {
    const sql = await connect(url);
    const store = new PostgresRelayStore(asClient(sql));
    dbOf.set(store, { url, sql });
    return store;
  };
  relayStoreContract("postgres", {
    make: async () => relay(await freshDb()),
    reopen: async (s: RelayStore) => {
      await s.close();
      const { url, sql } = dbOf.get(s)!;
      await closeClient(sql);
      return relay(url);
    },
  });

  const rng = mulberry32;

  /** Every schema invariant, checked with SQL: each query lists violations, so all must be empty. */
  async function violations(sql: PgQueryable): Promise<Record<string, unknown[]>> {
    const q = (text: string) => sql.unsafe(text);
    return {
      oneSided: await q(`SELECT s.* FROM widget_slots s WHERE s.partner_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM widget_slots t WHERE t.widget_id = s.partner_id AND t.port = s.port AND t.partner_id = s.widget_id)`),
      pairTwiceOnType: await q(`SELECT widget_id, port, partner_id FROM widget_slots WHERE partner_id IS NOT NULL
        GROUP BY 1, 2, 3 HAVING count(*) > 1`),
      selfAssociated: await q("SELECT * FROM widget_slots WHERE partner_id = widget_id"),
      danglingPartner: await q(`SELECT s.* FROM widget_slots s LEFT JOIN widgets w ON w.id = s.partner_id
        WHERE s.partner_id IS NOT NULL AND w.id IS NULL`),
      orphanSlot: await q("SELECT s.* FROM widget_slots s LEFT JOIN widgets w ON w.id = s.widget_id WHERE w.id IS NULL"),
      ordinalsNotDense: await q(
        "SELECT widget_id FROM widget_slots GROUP BY widget_id HAVING max(ordinal) + 1 <> count(*) OR count(*) > 3",
      ),
      countDrift: await q(
        "SELECT widget_count() AS counted, (SELECT count(*) FROM widgets) AS actual WHERE widget_count() <> (SELECT count(*) FROM widgets)",
      ),
    };
  }

  const REASONS = new Set([
    "duplicate",
    "widget_not_found",
    "association_not_found",
    "already_associated",
    "no_free_slot",
    "self_association",
  ]);

  describe("PostgreSQL adapters: several instances on one database", () => {
    test("the URL never reaches a message: only host and port", async () => {
      expect(pgLocation("postgres://u:s3cret@db.example:6543/pexd?sslmode=require")).toBe("db.example:6543");
      const port = pg.port;
      const url = `postgres://postgres:hunter2-secret@127.0.0.1:${port}/no_such_database`;
      const err = await openPostgres(url, { max: 1 }).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err).toBeInstanceOf(Error);
      expect(err!.message).toContain(`127.0.0.1:${port}`);
      expect(err!.message).not.toContain("hunter2");
      expect(err!.message).not.toContain("no_such_database@");
    });

    test("statements are prepared once per connection (Bun's default), not parsed per call", async () => {
      const sql = await connect(await freshDb(), 1);
      const store = await PostgresWidgetStore.open(asClient(sql));
      await store.add({ sn: "p", name: "P", slots: ["P"] });
      await store.get("p");
      await store.get("q");
      const prepared = await sql.unsafe<{ statement: string }[]>("SELECT statement FROM pg_prepared_statements");
      const texts = prepared.map((r) => r.statement);
      expect(texts.some((t) => t.includes("widget_apply("))).toBe(true);
      expect(texts.filter((t) => t.includes("WHERE w.serial_number = $1")).length).toBe(1);
    });

    test("two instances competing on the same widgets keep every invariant", async () => {
      const url = await freshDb();
      const sqlA = await connect(url, 6);
      const sqlB = await connect(url, 6);
      // One group-committing instance with several batches in flight, one sending each call alone.
      const a = await PostgresWidgetStore.open(asClient(sqlA), { groupCommit: true, maxInFlight: 3, maxBatch: 8 });
      const b = await PostgresWidgetStore.open(asClient(sqlB), { groupCommit: false });
      const rand = rng(42);
      const PORTS: PortType[] = ["P", "R", "Q"];
      const N = 24;
      const sn = (i: number) => `w${i}`;
      const pick = () => sn(Math.floor(rand() * N));
      const slots = () => Array.from({ length: 1 + Math.floor(rand() * 3) }, () => PORTS[Math.floor(rand() * 3)]!);
      for (let i = 0; i < N; i++) await a.add({ sn: sn(i), name: `widget ${i}`, slots: slots() });
      const unexpected: unknown[] = [];
      let done = 0;
      const op = (s: PostgresWidgetStore): Promise<void> => {
        const x = rand();
        const port = PORTS[Math.floor(rand() * 3)]!;
        const p =
          x < 0.45
            ? s.associate(pick(), pick(), port)
            : x < 0.75
              ? s.dissociate(pick(), pick(), port)
              : x < 0.87
                ? s.remove(pick())
                : s.add({ sn: pick(), name: "again", slots: slots() });
        return p.then(
          () => void done++,
          (e: unknown) => {
            if (!(e instanceof WidgetStoreError && REASONS.has(e.reason))) unexpected.push(e);
          },
        );
      };
      for (let wave = 0; wave < 6; wave++) {
        await Promise.all(Array.from({ length: 120 }, (_, i) => op(i % 2 ? a : b)));
        expect(await violations(sqlA)).toEqual({
          oneSided: [],
          pairTwiceOnType: [],
          selfAssociated: [],
          danglingPartner: [],
          orphanSlot: [],
          ordinalsNotDense: [],
          countDrift: [],
        });
      }
      expect(unexpected).toEqual([]);
      expect(done).toBeGreaterThan(100); // the mix did real work, not only refusals
      // Each instance counts its own committed changes (both opened on the empty table): together they add up.
      const [{ n }] = (await sqlA.unsafe("SELECT count(*)::int AS n FROM widgets")) as [{ n: number }];
      expect(a.count() + b.count()).toBe(n);
      expect(await b.reloadCount()).toBe(n);
      // And the data reads back symmetric through the port.
      for (let i = 0; i < N; i++) {
        const w = await b.get(sn(i));
        for (const s of w?.slots ?? []) {
          if (s.associated_with === null) continue;
          const other = await a.get(s.associated_with);
          expect(other?.slots.some((o) => o.port === s.port && o.associated_with === sn(i))).toBe(true);
        }
      }
    });

    test("a deadlock is retried: the caller only sees success", async () => {
      const url = await freshDb();
      const sql = await connect(url, 4);
      const store = await PostgresWidgetStore.open(asClient(sql), { groupCommit: false });
      await store.add({ sn: "x", name: "X", slots: ["P"] });
      await store.add({ sn: "y", name: "Y", slots: ["P"] });
      // Another session holds y, the higher id; associate() locks x (lower id first), then waits for y.
      const other = await sql.reserve();
      try {
        await other.unsafe("BEGIN");
        // Only the adapter's session may be the victim: this one checks for deadlocks much later.
        await other.unsafe("SET LOCAL deadlock_timeout = '60s'");
        await other.unsafe("SELECT 1 FROM widgets WHERE serial_number = 'y' FOR UPDATE");
        const pending = store.associate("x", "y", "P");
        await until("associate() waiting for y", async () => {
          const [row] = await sql.unsafe<{ n: number }[]>(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
          );
          return row!.n > 0;
        });
        // Now this session asks for x: a cycle, which the adapter's session detects after 200 ms
        // (deadlock_timeout of the test server) and resolves by aborting its own transaction.
        await other.unsafe("SELECT 1 FROM widgets WHERE serial_number = 'x' FOR UPDATE");
        await other.unsafe("COMMIT");
        await pending;
      } finally {
        other.release();
      }
      expect(store.retries).toBeGreaterThanOrEqual(1);
      expect((await store.get("x"))!.slots).toEqual([{ port: "P", associated_with: "y" }]);
    });

    test("serialization failures and a bad batch stay invisible: only WidgetStoreError reasons reach callers", async () => {
      const url = await freshDb();
      const sql = await connect(url, 4);
      let failures = 3;
      let failedBatches = 0;
      const fail = (state: string) => Object.assign(new Error(`injected ${state}`), { errno: state });
      // A client whose first calls fail as a busy server would (40001, 40P01), and whose first
      // multi-operation batch fails as a constraint violation would (23514): the store retries the
      // former and replays the latter one operation at a time.
      const flaky: PgClient = {
        unsafe: async <T>(q: string, params?: unknown[]) => {
          if (q.includes("widget_apply") && failures > 0) {
            failures--;
            throw fail(failures % 2 ? "40001" : "40P01");
          }
          if (q.includes("widget_apply") && ((params?.[0] as unknown[] | undefined)?.length ?? 0) > 1 && failedBatches++ === 0)
            throw fail("23514");
          return sql.unsafe<T[]>(q, params);
        },
        begin: (fn) => sql.begin((tx) => fn(tx)),
        close: () => sql.close(),
      };
      const opts: PostgresWidgetStoreOptions = { groupCommit: true, maxInFlight: 1 };
      const store = await PostgresWidgetStore.open(flaky, opts);
      await store.add({ sn: "a", name: "A", slots: ["P", "Q"] });
      const outcomes = await Promise.allSettled([
        store.add({ sn: "b", name: "B", slots: ["P"] }),
        store.add({ sn: "c", name: "C", slots: ["Q"] }),
        store.add({ sn: "a", name: "dup", slots: [] }),
        store.associate("a", "zz", "P"),
      ]);
      expect(outcomes.map((o) => (o.status === "fulfilled" ? "ok" : (o.reason as WidgetStoreError).reason))).toEqual([
        "ok",
        "ok",
        "duplicate",
        "widget_not_found",
      ]);
      await Promise.all([store.associate("a", "b", "P"), store.associate("c", "a", "Q")]);
      expect(store.retries).toBe(3);
      expect(failedBatches).toBeGreaterThan(1);
      expect((await store.get("a"))!.slots).toEqual([
        { port: "P", associated_with: "b" },
        { port: "Q", associated_with: "c" },
      ]);
      expect(store.count()).toBe(3);
    });

    test("the error classifier", () => {
      const e = (errno: string) => ({ errno, code: "ERR_POSTGRES_SERVER_ERROR" });
      expect(classifyPgError(e("40001"))).toBe("retry");
      expect(classifyPgError(e("40P01"))).toBe("retry");
      expect(classifyPgError(e("23505"))).toBe("duplicate");
      expect(classifyPgError(e("53100"))).toBe("disk_full");
      expect(classifyPgError(e("25006"))).toBe("read_only");
      expect(classifyPgError(e("57P01"))).toBe("unavailable");
      expect(classifyPgError(e("08006"))).toBe("unavailable");
      expect(classifyPgError(e("23514"))).toBe("invalid");
      expect(classifyPgError({ code: "40P01" })).toBe("retry"); // postgres.js / node-postgres
      expect(classifyPgError({ code: "ERR_POSTGRES_CONNECTION_CLOSED" })).toBe("unavailable");
      expect(classifyPgError(new Error("boom"))).toBe("other");
    });

    test("migrations started together by several instances are applied once", async () => {
      const url = await pg.createDatabase(); // empty: nothing migrated yet
      const pools = Array.from({ length: 5 }, () => {
        const s = new SQL(url, { max: 2 });
        clients.add(s);
        return s;
      });
      const migrations = loadPgMigrations();
      const applied = await Promise.all(pools.map((s) => migratePostgres(asClient(s), migrations)));
      expect(applied.flat().sort()).toEqual(migrations.map((m) => m.name));
      const rows = await pools[0]!.unsafe("SELECT name FROM schema_migrations ORDER BY name");
      expect(rows.map((r: { name: string }) => r.name)).toEqual(migrations.map((m) => m.name));
      // And again: nothing left to do.
      expect(await migratePostgres(asClient(pools[1]!), migrations)).toEqual([]);
      await Promise.all(pools.map((s) => closeClient(s)));
    });

    test("relay: one turn's frames travel in batches bounded by count and document bytes", async () => {
      const sql = await connect(await freshDb(), 4);
      const store = new PostgresRelayStore(asClient(sql), { maxBatch: 4, maxBatchBytes: 110 });
      const doc = (n: number) => new TextEncoder().encode(`<html>${String(n).padStart(40, "0")}</html>`); // 53 bytes
      const frames: RelayFrame[] = Array.from({ length: 10 }, (_, n) => ({
        address: "10.1.1.1",
        bytes: 53,
        at: "2026-01-01T00:00:00.000Z",
        block: { number: n % 5, hash: null, html: doc(n) },
      }));
      const outcomes = await Promise.all(frames.map((f) => store.record(f)));
      expect(outcomes).toEqual([...Array(5).fill("stored"), ...Array(5).fill("duplicate")]);
      expect(store.batches).toBe(5); // two 53-byte documents per batch
      expect((await store.blocks(10)).map((b) => b.hash)).toEqual([null, null, null, null, null]);
    });

    test("relay: first copy wins across instances, and client stats add up", async () => {
      const url = await freshDb();
      const sqlA = await connect(url, 4);
      const sqlB = await connect(url, 4);
      const a = new PostgresRelayStore(asClient(sqlA));
      const b = new PostgresRelayStore(asClient(sqlB));
      const frame = (address: string, n: number | null, i: number): RelayFrame => {
        const html = new TextEncoder().encode(`<html>${n} from ${address} #${i}</html>`);
        return {
          address,
          bytes: html.length,
          at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
          ...(n === null ? {} : { block: { number: n, hash: `0x${n.toString(16)}`, html } }),
        };
      };
      const BLOCKS = 30;
      const COPIES = 6;
      const ADDRS = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
      const calls: { store: "a" | "b"; f: RelayFrame }[] = [];
      let i = 0;
      for (let round = 0; round < COPIES; round++) {
        for (let n = 0; n < BLOCKS; n++) {
          calls.push({ store: i % 2 ? "a" : "b", f: frame(ADDRS[i % 3]!, 1000 + n, i) });
          i++;
        }
        calls.push({ store: i % 2 ? "a" : "b", f: frame(ADDRS[i % 3]!, null, i) });
        i++;
      }
      // Every copy of every block at once, from both instances.
      const outcomes = await Promise.all(calls.map((c) => (c.store === "a" ? a : b).record(c.f)));
      const stored = new Map<number, number>();
      calls.forEach((c, k) => {
        if (outcomes[k] === "stored") stored.set(c.f.block!.number, (stored.get(c.f.block!.number) ?? 0) + 1);
      });
      expect(stored.size).toBe(BLOCKS);
      expect([...stored.values()].every((v) => v === 1)).toBe(true);
      expect(outcomes.filter((o) => o === "duplicate").length).toBe(BLOCKS * (COPIES - 1));
      expect(outcomes.filter((o) => o === "rejected").length).toBe(COPIES);
      // The stored document is the copy whose caller was told "stored".
      for (const [k, c] of calls.entries()) {
        if (outcomes[k] !== "stored") continue;
        expect(new TextDecoder().decode((await b.document(c.f.block!.number))!)).toBe(new TextDecoder().decode(c.f.block!.html));
      }
      const totals = await a.totals();
      expect(totals).toEqual({
        blocks: BLOCKS,
        frames: calls.length,
        duplicates: BLOCKS * (COPIES - 1),
        rejected: COPIES,
        bytes: calls.reduce((s, c) => s + c.f.bytes, 0),
        clients: ADDRS.length,
      });
      const perClient = await b.clients();
      for (const addr of ADDRS) {
        const mine = calls.filter((c) => c.f.address === addr);
        const got = perClient.find((c) => c.address === addr)!;
        expect(got.frames).toBe(mine.length);
        expect(got.bytes).toBe(mine.reduce((s, c) => s + c.f.bytes, 0));
        expect(got.rejected).toBe(mine.filter((c) => !c.f.block).length);
        expect(got.first_seen).toBe(mine[0]!.f.at);
        expect(got.last_seen).toBe(mine[mine.length - 1]!.f.at);
      }
      expect(perClient.reduce((s, c) => s + c.duplicates, 0)).toBe(BLOCKS * (COPIES - 1));
      await Promise.all([a.close(), b.close()]);
    });
  });
});
