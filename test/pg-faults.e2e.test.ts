// PostgreSQL failing under a running pexd (docs/faults.md): the
// network to a real server cut (connections dropped, new ones refused) and frozen (connections held,
// nothing answered), through a TCP proxy. Writes answer 503 storage_unavailable — never 500, never a
// hang past the deadline — /ready answers 503 naming storage, the URL's password is never shown, and
// once the database is back pexd serves again without a restart and nothing acknowledged is lost.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startPexd, type Pexd } from "./helpers/pexd.ts";
import { startPostgres, type PgServer } from "./helpers/postgres.ts";
import { startTcpProxy, type TcpProxy } from "./helpers/tcp-proxy.ts";
import { until } from "./helpers/wait.ts";
import { need, skipping } from "./helpers/requirements.ts";

const PASSWORD = "pg-pw-never-shown-91c2";
let pg: PgServer;
let proxy: TcpProxy;
let pexd: Pexd;
let highest = 0;
const widgets: string[] = [];

// Needs real servers: a missing one fails with the command that installs it; PEXD_TEST_SKIP skips.
describe.skipIf(skipping("postgres"))("PostgreSQL faults", () => {
  beforeAll(async () => {
    need("postgres");
    pg = await startPostgres();
    const db = new URL(await pg.createDatabase()).pathname;
    proxy = await startTcpProxy(pg.port);
    // Trust authentication ignores the password; pexd must still never show it.
    pexd = await startPexd({
      env: { PEXD_DATABASE_URL: `postgres://postgres:${PASSWORD}@127.0.0.1:${proxy.port}${db}`, PEXD_LOG_LEVEL: "info" },
    });
  }, 60_000);

  afterAll(async () => {
    await pexd?.dispose();
    proxy?.stop();
    await pg?.stop();
  });

  const next = () => fetch(`${pexd.url}/next`, { method: "POST" });
  const add = (sn: string) =>
    fetch(`${pexd.url}/rpc/add_widget`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ widget_sn: sn, widget_name: sn, slots: ["P", "R"] }),
    });
  const acknowledge = async () => {
    const r = await next();
    expect(r.status).toBe(200);
    highest = ((await r.json()) as { index: number }).index;
    const sn = `w-${widgets.length}`;
    expect((await add(sn)).status).toBe(204);
    widgets.push(sn);
  };
  const expectUnavailable = async (r: Response) => {
    expect(r.status).toBe(503);
    expect(((await r.json()) as { code: string }).code).toBe("storage_unavailable");
  };

  describe("PostgreSQL failing under a running pexd", () => {
    test("healthy: steps and widgets acknowledged", async () => {
      for (let i = 0; i < 5; i++) await acknowledge();
      expect((await fetch(`${pexd.url}/ready`)).status).toBe(200);
    });

    test("the network cut: 503 storage_unavailable at once, /ready 503 naming storage", async () => {
      proxy.cut();
      const answers = await Promise.all([next(), next(), add("cut-1"), fetch(`${pexd.url}/widgets/w-0`)]);
      for (const r of answers.slice(0, 3)) await expectUnavailable(r);
      expect(answers[3]!.status).toBe(503);
      const ready = await fetch(`${pexd.url}/ready`);
      expect(ready.status).toBe(503);
      expect(JSON.stringify(await ready.json())).toContain("storage");
    });

    test("back: served again without a restart, nothing acknowledged lost", async () => {
      proxy.restore();
      await until("/ready 200", async () => (await fetch(`${pexd.url}/ready`)).status === 200, 15_000);
      await until("a step acknowledged", async () => (await next()).status === 200, 15_000);
      const cur = (await (await fetch(`${pexd.url}/current`)).json()) as { index: number };
      expect(cur.index).toBeGreaterThan(highest);
      highest = cur.index;
      for (const sn of widgets) expect((await fetch(`${pexd.url}/widgets/${sn}`)).status).toBe(200);
      await acknowledge();
    }, 40_000);

    test("frozen (connections held, nothing answered): 503 within the deadline, not a hang", async () => {
      proxy.freeze();
      try {
        const t0 = Date.now();
        const answers = await Promise.all([next(), add("frozen-1")]);
        for (const r of answers) await expectUnavailable(r);
        // The deadline is 5 s; a hang would end in the test's timeout instead.
        expect(Date.now() - t0).toBeLessThan(15_000);
        expect((await fetch(`${pexd.url}/ready`)).status).toBe(503);
      } finally {
        proxy.restore();
      }
      await until("a step acknowledged again", async () => (await next()).status === 200, 20_000);
      expect(((await (await fetch(`${pexd.url}/current`)).json()) as { index: number }).index).toBeGreaterThan(highest);
      for (const sn of widgets) expect((await fetch(`${pexd.url}/widgets/${sn}`)).status).toBe(200);
    }, 60_000);

    test("the password never appears in logs, errors, /ready or /metrics", async () => {
      const texts = [pexd.output(), await (await fetch(`${pexd.url}/metrics`)).text(), await (await fetch(`${pexd.url}/ready`)).text()];
      for (const t of texts) expect(t).not.toContain(PASSWORD);
      expect(pexd.logs.some((l) => l.msg === "unhandled error")).toBe(false);
    });
  });
});
