// `make all INSTANCES=…` under a real systemd (systemd-nspawn over the cached Debian bookworm root,
// as test/systemd.test.ts): pexd@ instances on Debian's PostgreSQL and Redis behind Debian's nginx —
// installed, counted through nginx, an instance killed, one added, all uninstalled.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Container, containerOptedOut, copyRepository, ensureRoot, needContainer } from "./helpers/nspawn.ts";

const log = (s: string) => process.stdout.write(`[systemd-scaleout.test] ${s}\n`);
const unavailable = containerOptedOut();

describe.skipIf(unavailable !== null)(
  "make all INSTANCES=… under a real systemd: pexd@ instances on PostgreSQL and Redis behind nginx",
  () => {
    let c: Container | undefined;
    const PASSWORD = "pw-not-in-logs-5d1c";
    const DB_URL = `postgres://pexd_app:${PASSWORD}@127.0.0.1:5432/pexd`;
    let token = "";
    const sh = async (script: string, timeoutMs = 60_000) => {
      if (!c) throw new Error("no container");
      return c.sh(script, { timeoutMs });
    };
    const ok = async (script: string, timeoutMs = 60_000) => {
      const r = await sh(script, timeoutMs);
      if (r.code !== 0) throw new Error(`\`${script}\` exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
      return r.stdout.trim();
    };
    const curl = (url: string) => ok(`curl -fsS --max-time 5 -H 'Authorization: Bearer ${token}' ${url}`);
    /** n concurrent GET /next through nginx (port 80), their indexes sorted. */
    const nexts = async (n: number) =>
      (await ok(`seq ${n} | xargs -P ${n} -I{} curl -fsS --max-time 10 -H 'Authorization: Bearer ${token}' http://127.0.0.1/next; echo`))
        .split("}")
        .filter((s) => s.includes("index"))
        .map((s) => (JSON.parse(`${s}}`) as { index: number }).index)
        .sort((a, b) => a - b);
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

    beforeAll(async () => {
      needContainer();
      const root = await ensureRoot(log);
      const work = join(tmpdir(), `pexd-nspawn-scale-${process.pid}`);
      c = await Container.create(root, work);
      await copyRepository(c);
      await c.boot();
      // Debian's PostgreSQL and Redis, as a user would run them next to the instances.
      await ok("systemctl start postgresql redis-server", 120_000);
      await ok(
        `runuser -u postgres -- psql -q -c "CREATE ROLE pexd_app LOGIN PASSWORD '${PASSWORD}'" -c "CREATE DATABASE pexd OWNER pexd_app"`,
      );
    }, 900_000);

    afterAll(async () => {
      await c?.dispose();
    }, 120_000);

    test("without PEXD_DATABASE_URL, INSTANCES is refused before anything is installed", async () => {
      const r = await c!.exec(["make", "-C", "/root/pexd", "all", "INSTANCES=8081,8082"], { timeoutMs: 60_000 });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("INSTANCES needs a shared PostgreSQL database");
      expect((await sh("test -e /opt/pexd")).code).not.toBe(0);
      const bad = await c!.exec(["make", "-C", "/root/pexd", "all", "INSTANCES=8081,80", `PEXD_DATABASE_URL=${DB_URL}`], {
        timeoutMs: 60_000,
      });
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain("'80' is not a port from 1024 to 65535");
    });

    test("installs two instances and nginx; the password is never shown", async () => {
      const proxyEnv = await c!.startRegistryBridge();
      const t0 = performance.now();
      const r = await c!.exec(
        ["make", "-C", "/root/pexd", "all", "INSTANCES=8081,8082", `PEXD_DATABASE_URL=${DB_URL}`, "PEXD_REDIS_URL=redis://127.0.0.1:6379"],
        { env: proxyEnv, timeoutMs: 400_000 },
      );
      log(`make all INSTANCES=8081,8082: ${Math.round(performance.now() - t0)} ms`);
      if (r.code !== 0) log(`make all output:\n${r.stdout}\n${r.stderr}`);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("2 instances (pexd@{8081,8082}) behind nginx");
      expect(r.stdout + r.stderr).not.toContain(PASSWORD);
      token = /^ {4}([0-9a-f]{64})$/m.exec(r.stdout)?.[1] ?? "";
      expect(token).toHaveLength(64);
      for (const unit of ["pexd@8081", "pexd@8082", "nginx"]) {
        expect(await ok(`systemctl is-active ${unit}`)).toBe("active");
        expect(await ok(`systemctl is-enabled ${unit}`)).toBe("enabled");
      }
      expect((await sh("systemctl is-active pexd.service")).stdout.trim()).not.toBe("active");
      expect(await ok("grep -c '^PEXD_DATABASE_URL=postgres://' /etc/pexd/pexd.env")).toBe("1");
      expect(await ok("stat -c '%a %U:%G' /etc/pexd/pexd.env")).toBe("640 root:pexd");
      expect(await ok("ps -o user= -p $(systemctl show -p MainPID --value pexd@8082)")).toBe("pexd");
      // The instances bind loopback only (nginx is the way in), whatever the env file says.
      expect(await ok("grep '^PEXD_HOST=' /etc/pexd/pexd.env")).toBe("PEXD_HOST=0.0.0.0");
      expect(await ok("tr '\\0' '\\n' < /proc/$(systemctl show -p MainPID --value pexd@8081)/environ | grep '^PEXD_HOST='")).toBe(
        "PEXD_HOST=127.0.0.1",
      );
      expect(JSON.parse(await ok("curl -fsS --max-time 5 http://127.0.0.1/health")).status).toBe("ok");
      expect((await sh(`journalctl --no-pager -o cat -u 'pexd@*' | grep -c '${PASSWORD}'`)).stdout.trim()).toBe("0");
    }, 500_000);

    test("40 concurrent /next through nginx answer exactly 1..40; both instances read 40", async () => {
      expect(await nexts(40)).toEqual(range(1, 40));
      for (const port of [8081, 8082]) expect(JSON.parse(await curl(`http://127.0.0.1:${port}/current`)).index).toBe(40);
    }, 120_000);

    test("kill -9 of one instance: nginx keeps answering, nothing acknowledged is lost, systemd restarts it", async () => {
      const pid = await ok("systemctl show -p MainPID --value pexd@8081");
      await ok(`kill -9 ${pid}`);
      expect(await nexts(20)).toEqual(range(41, 60));
      await ok(
        'for i in $(seq 300); do [ "$(systemctl show -p NRestarts --value pexd@8081)" = 1 ] && curl -fsS -o /dev/null --max-time 1 http://127.0.0.1:8081/health && exit 0; sleep 0.1; done; exit 1',
      );
      expect(JSON.parse(await curl("http://127.0.0.1:8081/current")).index).toBe(60);
    }, 120_000);

    test("make all INSTANCES=8081,8082,8083 adds an instance; the count goes on", async () => {
      const proxyEnv = await c!.startRegistryBridge();
      const r = await c!.exec(["make", "-C", "/root/pexd", "all", "INSTANCES=8081,8082,8083"], { env: proxyEnv, timeoutMs: 400_000 });
      if (r.code !== 0) log(`make all output:\n${r.stdout}\n${r.stderr}`);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("keeping /etc/pexd/pexd.env");
      expect(await ok("systemctl is-active pexd@8083")).toBe("active");
      expect(await ok("grep -c 'server 127.0.0.1:808[123]' /etc/nginx/sites-enabled/pexd")).toBe("3");
      expect(await nexts(30)).toEqual(range(61, 90));
    }, 500_000);

    test("make uninstall stops the instances and gives nginx its default site back", async () => {
      const r = await c!.exec(["make", "-C", "/root/pexd", "uninstall", "PURGE=1"], { timeoutMs: 120_000 });
      expect(r.code).toBe(0);
      for (const unit of ["pexd@8081", "pexd@8082", "pexd@8083"])
        expect((await sh(`systemctl is-active ${unit}`)).stdout.trim()).not.toBe("active");
      for (const path of [
        "/etc/systemd/system/pexd@.service",
        "/etc/nginx/sites-enabled/pexd",
        "/etc/nginx/sites-available/pexd",
        "/opt/pexd",
      ])
        expect((await sh(`test -e ${path}`)).code).not.toBe(0);
      expect(await ok("readlink /etc/nginx/sites-enabled/default")).toBe("/etc/nginx/sites-available/default");
      // The database is the operator's: uninstall leaves it alone.
      expect(await ok(`runuser -u postgres -- psql -tA -d pexd -c "select count(*) > 0 from pg_tables where schemaname = 'public'"`)).toBe(
        "t",
      );
    }, 180_000);
  },
);
