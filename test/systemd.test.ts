// The VPS install (issue 8): the unit passes systemd-analyze, a staged `make all DESTDIR=…` lays out
// the right files and modes, and under a real systemd (nspawn) `make all` gives a healthy, restarting,
// hardened service that keeps its state across kill -9, restarts, upgrades, reboots and uninstall.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./helpers/pexd.ts";
import { cleanupStale, Container, containerOptedOut, copyRepository, ensureRoot, needContainer, run } from "./helpers/nspawn.ts";
import { need, skipping } from "./helpers/requirements.ts";

const UNIT = join(ROOT, "systemd/pexd.service");
const log = (s: string) => process.stdout.write(`[systemd.test] ${s}\n`);

// Missing tools fail these tests with the command that installs them (PEXD_TEST_SKIP=systemd or
// root skips them instead): test/helpers/requirements.ts.
describe.skipIf(skipping("systemd"))("systemd unit (systemd-analyze)", () => {
  beforeAll(() => need("systemd"));
  // Root: the check needs a private mount namespace.
  test.skipIf(skipping("root"))("systemd-analyze verify prints nothing", async () => {
    need("root");
    // verify checks that ExecStart exists: show it a /usr/local/bin/pexd in a private mount namespace
    // (a tmpfs over /usr/local/bin there), without touching the host's.
    const bun = process.execPath;
    const r = await run([
      "unshare",
      "-m",
      "--propagation",
      "private",
      "bash",
      "-c",
      'mount -t tmpfs tmpfs /usr/local/bin && ln -s "$1" /usr/local/bin/pexd && exec systemd-analyze verify "$2"',
      "verify",
      bun,
      UNIT,
    ]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("");
    expect(r.code).toBe(0);
  });

  test("systemd-analyze security --offline=yes: exposure at most 2.5", async () => {
    const r = await run(["systemd-analyze", "security", "--offline=yes", "--no-pager", UNIT]);
    const m = /Overall exposure level for pexd\.service: (\d+\.\d+)/.exec(r.stdout + r.stderr);
    expect(m).not.toBeNull();
    log(`security exposure ${m?.[1]}`);
    expect(Number(m?.[1])).toBeLessThanOrEqual(2.5);
  });

  test("the unit carries the settings the issue asks for", () => {
    const unit = readFileSync(UNIT, "utf8");
    for (const line of [
      "Type=simple",
      "User=pexd",
      "Restart=always",
      "RestartSec=1",
      "RestartPreventExitStatus=78",
      "LimitNOFILE=65536",
      "TimeoutStopSec=15",
      "EnvironmentFile=/etc/pexd/pexd.env",
      "StateDirectory=pexd",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "PrivateTmp=yes",
      "PrivateDevices=yes",
      "CapabilityBoundingSet=",
      "SystemCallFilter=@system-service",
    ])
      expect(unit.split("\n")).toContain(line);
    expect(unit).toMatch(/^ExecStart=\/\S+/m);
    expect(unit).not.toMatch(/^MemoryDenyWriteExecute/m);
  });
});

describe("env file", () => {
  test("systemd/pexd.env documents every configuration variable", async () => {
    const { CONFIG_VARIABLES } = await import("../src/config.ts");
    const env = readFileSync(join(ROOT, "systemd/pexd.env"), "utf8");
    for (const v of CONFIG_VARIABLES) expect(env).toMatch(new RegExp(`^#?${v}=`, "m"));
    // Active lines parse as a valid configuration (empty optional values would exit 78).
    const active = Object.fromEntries(
      env
        .split("\n")
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    const { parseConfig } = await import("../src/config.ts");
    const config = parseConfig(active);
    expect(config.host).toBe("0.0.0.0");
    expect(config.port).toBe(8081);
  });
});

describe.skipIf(!Bun.which("bun") && !existsSync(process.execPath))("staged install (make all DESTDIR=…)", () => {
  const dest = mkdtempSync(join(tmpdir(), "pexd-stage-"));
  afterAll(() => rmSync(dest, { recursive: true, force: true }));
  const mode = (p: string) => (statSync(join(dest, p)).mode & 0o7777).toString(8);

  test("lays out the app, unit, env file and data directory with their modes", async () => {
    const r = await run(["make", "-s", "-C", ROOT, "all", `DESTDIR=${dest}`], {
      timeoutMs: 180_000,
      env: { ...(process.env as Record<string, string>), PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}` },
    });
    if (r.code !== 0) log(`make all DESTDIR output:\n${r.stdout}\n${r.stderr}`);
    expect(r.code).toBe(0);
    expect(mode("etc/systemd/system/pexd.service")).toBe("644");
    expect(readFileSync(join(dest, "etc/systemd/system/pexd.service"), "utf8")).toBe(readFileSync(UNIT, "utf8"));
    expect(mode("etc/pexd")).toBe("750");
    expect(mode("etc/pexd/pexd.env")).toBe("640");
    expect(mode("var/lib/pexd")).toBe("750");
    // One executable; /opt/pexd holds only the docs and templates (no source, no node_modules).
    expect(mode("usr/local/bin/pexd")).toBe("755");
    const version = Bun.spawnSync([join(dest, "usr/local/bin/pexd"), "--version"]);
    expect(version.exitCode).toBe(0);
    expect(version.stdout.toString().trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(mode("opt/pexd")).toBe("755");
    expect(mode("opt/pexd/README.md")).toBe("644");
    expect(mode("opt/pexd/systemd/pexd.env")).toBe("644");
    expect(existsSync(join(dest, "opt/pexd/docs/operations.md"))).toBe(true);
    for (const absent of ["opt/pexd/src", "opt/pexd/node_modules", "opt/pexd/package.json"])
      expect(existsSync(join(dest, absent))).toBe(false);
    // A new env file gets a random API token (shown once) and the rate limit on.
    const env = readFileSync(join(dest, "etc/pexd/pexd.env"), "utf8");
    const token = /^PEXD_API_TOKEN=([0-9a-f]{64})$/m.exec(env)?.[1];
    expect(token).toBeDefined();
    expect(r.stdout).toContain(token!);
    expect(env).toMatch(/^PEXD_RATE_LIMIT=\d+\/s/m);
  });

  test("a second staged install keeps an edited env file, token included; PEXD_BIN is installed as it is", async () => {
    const bin = join(dest, "pexd-built-before");
    copyFileSync(join(dest, "usr/local/bin/pexd"), bin);
    chmodSync(bin, 0o755);
    const envPath = join(dest, "etc/pexd/pexd.env");
    writeFileSync(envPath, `${readFileSync(envPath, "utf8")}\n# edited by the operator\n`);
    const before = readFileSync(envPath, "utf8");
    const r = await run(["bash", join(ROOT, "scripts/install.sh")], {
      timeoutMs: 180_000,
      // PEXD_BIN: an executable built before (here: the first staged one) is installed as it is.
      env: {
        ...(process.env as Record<string, string>),
        DESTDIR: dest,
        PEXD_BIN: bin,
        PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}`,
      },
    });
    expect(r.code).toBe(0);
    expect(readFileSync(envPath, "utf8")).toBe(before);
    expect(r.stdout).not.toContain("API token");
    expect(r.stdout).not.toContain("building the executable");
    rmSync(bin);
  });

  test("make uninstall DESTDIR=… keeps data and settings unless PURGE=1", async () => {
    writeFileSync(join(dest, "var/lib/pexd/pexd.sqlite"), "data");
    let r = await run(["make", "-s", "-C", ROOT, "uninstall", `DESTDIR=${dest}`]);
    expect(r.code).toBe(0);
    expect(existsSync(join(dest, "opt/pexd"))).toBe(false);
    expect(existsSync(join(dest, "etc/systemd/system/pexd.service"))).toBe(false);
    expect(readFileSync(join(dest, "var/lib/pexd/pexd.sqlite"), "utf8")).toBe("data");
    expect(existsSync(join(dest, "etc/pexd/pexd.env"))).toBe(true);
    r = await run(["make", "-s", "-C", ROOT, "uninstall", `DESTDIR=${dest}`, "PURGE=1"]);
    expect(r.code).toBe(0);
    expect(existsSync(join(dest, "var/lib/pexd"))).toBe(false);
  });
});

describe.skipIf(skipping("root"))("install script guards", () => {
  test("make all refuses to run as a non-root user", async () => {
    need("root");
    // A copy the unprivileged user can read (a checkout under /root is not).
    const dir = mkdtempSync(join(tmpdir(), "pexd-test-guard-"));
    mkdirSync(join(dir, "scripts"));
    for (const f of ["install.sh", "paths.sh"]) copyFileSync(join(ROOT, "scripts", f), join(dir, "scripts", f));
    chmodSync(dir, 0o755);
    const r = await run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash", join(dir, "scripts/install.sh")]);
    rmSync(dir, { recursive: true, force: true });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("run as root");
  });
});

const unavailable = containerOptedOut();

describe.skipIf(unavailable !== null)("make all under a real systemd (systemd-nspawn, Debian bookworm)", () => {
  let c: Container | undefined;
  let proxyEnv: Record<string, string> = {};
  const sh = async (script: string, timeoutMs = 60_000) => {
    if (!c) throw new Error("no container");
    return c.sh(script, { timeoutMs });
  };
  const ok = async (script: string, timeoutMs = 60_000) => {
    const r = await sh(script, timeoutMs);
    if (r.code !== 0) throw new Error(`\`${script}\` exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout.trim();
  };
  const show = async (prop: string) => ok(`systemctl show -p ${prop} --value pexd.service`);
  /** The API token `make all` wrote into the new env file (and showed once). */
  let token = "";
  const get = async (path: string) =>
    JSON.parse(await ok(`curl -fsS --max-time 5 -H 'Authorization: Bearer ${token}' http://127.0.0.1:8081${path}`)) as Record<
      string,
      unknown
    >;
  const status = async (args: string) => ok(`curl -s -o /dev/null -w '%{http_code}' --max-time 5 ${args}`);
  /** Polls /health for up to 30 s inside the container and returns the milliseconds it took. */
  const healthyWithin = async () =>
    Number(
      await ok(
        `s=$(date +%s%N); for i in $(seq 600); do curl -fsS -o /dev/null --max-time 1 http://127.0.0.1:8081/health && { echo $(( ($(date +%s%N) - s) / 1000000 )); exit 0; }; sleep 0.05; done; exit 1`,
        60_000,
      ),
    );

  beforeAll(async () => {
    needContainer();
    const root = await ensureRoot(log);
    await cleanupStale(tmpdir(), "pexd-nspawn-");
    const work = join(tmpdir(), `pexd-nspawn-${process.pid}`);
    c = await Container.create(root, work);
    await copyRepository(c);
  }, 900_000);

  afterAll(async () => {
    await c?.dispose();
  }, 120_000);

  test("without a running systemd, make all stops with a clear message", async () => {
    const r = await c!.chroot(["make", "-s", "-C", "/root/pexd", "all"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("systemd is not running");
    expect(existsSync(join(c!.merged, "opt/pexd"))).toBe(false);
  });

  test("boots, and make all builds the executable and installs a healthy service", async () => {
    await c!.boot();
    proxyEnv = await c!.startRegistryBridge();
    const t0 = performance.now();
    const r = await c!.exec(["make", "-C", "/root/pexd", "all"], { env: proxyEnv, timeoutMs: 300_000 });
    log(`first make all (Bun from npm, builds the executable): ${Math.round(performance.now() - t0)} ms`);
    if (r.code !== 0) log(`make all output:\n${r.stdout}\n${r.stderr}`);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("pexd is running: http://");
    expect(r.stdout).toContain("Active: active (running)");
    // The service runs the executable; no Bun is installed for it (the build's Bun stays in the checkout).
    expect(await ok("stat -c '%a %U' /usr/local/bin/pexd")).toBe("755 root");
    expect(await show("ExecStart")).toContain("path=/usr/local/bin/pexd");
    expect((await sh("command -v bun")).code).not.toBe(0);
    expect((await sh("test -e /usr/local/bin/bun")).code).not.toBe(0);
    expect(await ok("systemctl is-enabled pexd")).toBe("enabled");
    expect(await ok("systemctl is-active pexd")).toBe("active");
    expect((await sh("systemctl status pexd --no-pager")).code).toBe(0);
    const health = await get("/health");
    expect(health.status).toBe("ok");
    // The service runs as pexd, with the unit's limits and a root-owned, read-only app tree.
    const pid = await show("MainPID");
    expect(await ok(`ps -o user= -p ${pid}`)).toBe("pexd");
    expect(await show("LimitNOFILE")).toBe("65536");
    expect(await ok("stat -c '%a %U:%G' /etc/pexd/pexd.env")).toBe("640 root:pexd");
    expect(await ok("stat -c '%a %U:%G' /var/lib/pexd")).toBe("750 pexd:pexd");
    expect(await ok("stat -c '%U' /opt/pexd/README.md")).toBe("root");
    expect((await sh("runuser -u pexd -- touch /opt/pexd/x")).code).not.toBe(0);
    expect(await show("MemoryMax")).toBe(String(768 * 1024 * 1024));
    expect(await show("MemoryHigh")).toBe(String(512 * 1024 * 1024));
    expect(await show("TasksMax")).toBe("256");
    // The new env file: a random token, shown once on the terminal, and the rate limit on.
    token = /^ {4}([0-9a-f]{64})$/m.exec(r.stdout)?.[1] ?? "";
    expect(token).toHaveLength(64);
    expect(await ok("grep -c '^PEXD_API_TOKEN=' /etc/pexd/pexd.env")).toBe("1");
    expect(await ok(`grep -c '^PEXD_API_TOKEN=${token}$' /etc/pexd/pexd.env`)).toBe("1");
    expect(await ok("grep '^PEXD_RATE_LIMIT=' /etc/pexd/pexd.env")).toMatch(/^PEXD_RATE_LIMIT=\d+\/s/);
  }, 400_000);

  test("the installed service is closed by default: mutating routes need the token (any scheme case); HEAD changes nothing", async () => {
    expect(await status("http://127.0.0.1:8081/next")).toBe("401");
    expect(await status("-X POST http://127.0.0.1:8081/reset")).toBe("401");
    expect(await status(`-I -H 'Authorization: Bearer ${token}' http://127.0.0.1:8081/next`)).toBe("405");
    expect(await get("/current")).toEqual({ index: 0, value: "0" });
  });

  test("/next twice counts from the fresh state", async () => {
    expect(await get("/next")).toEqual({ index: 1, value: "1" });
    expect(JSON.parse(await ok(`curl -fsS --max-time 5 -H 'authorization: bearer ${token}' http://127.0.0.1:8081/next`))).toEqual({
      index: 2,
      value: "1",
    });
  });

  test("kill -9 of the main PID: systemd restarts it once and the index survives", async () => {
    const before = await show("MainPID");
    expect(Number(before)).toBeGreaterThan(1);
    expect(await show("NRestarts")).toBe("0");
    // One script inside, so the figure is not inflated by nsenter round trips: kill, wait for
    // systemd's restart to be counted, then for /health.
    const ms = Number(
      await ok(
        `s=$(date +%s%N); kill -9 ${before}; for i in $(seq 600); do [ "$(systemctl show -p NRestarts --value pexd)" = 1 ] && curl -fsS -o /dev/null --max-time 1 http://127.0.0.1:8081/health && { echo $(( ($(date +%s%N) - s) / 1000000 )); exit 0; }; sleep 0.05; done; exit 1`,
      ),
    );
    log(`healthy again ${ms} ms after kill -9 (RestartSec=1 included)`);
    expect(await show("NRestarts")).toBe("1");
    expect(await show("MainPID")).not.toBe(before);
    expect(await get("/current")).toEqual({ index: 2, value: "1" });
  }, 120_000);

  test("systemctl restart keeps the state", async () => {
    const before = await show("MainPID");
    await ok("systemctl restart pexd");
    await healthyWithin();
    expect(await show("MainPID")).not.toBe(before);
    expect(await get("/next")).toEqual({ index: 3, value: "2" });
  }, 120_000);

  test("invalid configuration: exit 78 and no restart loop", async () => {
    await ok(
      "cp /etc/pexd/pexd.env /root/pexd.env.good && sed -i 's/^PEXD_PORT=.*/PEXD_PORT=not-a-port/' /etc/pexd/pexd.env && systemctl restart pexd",
    );
    // Polls: "failed" is terminal, so a restart loop would never reach it.
    await ok(
      'for i in $(seq 300); do [ "$(systemctl show -p ActiveState --value pexd)" = failed ] && exit 0; sleep 0.1; done; exit 1',
      60_000,
    );
    expect(await show("ExecMainStatus")).toBe("78");
    expect(await ok("journalctl -u pexd --no-pager -o cat | grep -c 'invalid configuration: PEXD_PORT' || true")).not.toBe("0");
    await ok("cp /root/pexd.env.good /etc/pexd/pexd.env && systemctl restart pexd");
    await healthyWithin();
  }, 120_000);

  test("a second make all upgrades in place: env file and data kept, service restarted", async () => {
    await ok("echo '# edited by the operator' >> /etc/pexd/pexd.env");
    const before = await show("MainPID");
    proxyEnv = await c!.startRegistryBridge();
    const t0 = performance.now();
    const r = await c!.exec(["make", "-C", "/root/pexd", "all"], { env: proxyEnv, timeoutMs: 300_000 });
    log(`second make all (Bun present, upgrade): ${Math.round(performance.now() - t0)} ms`);
    if (r.code !== 0) log(`make all output:\n${r.stdout}\n${r.stderr}`);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("keeping /etc/pexd/pexd.env");
    expect(r.stdout).not.toContain(token);
    expect(await ok("tail -n 1 /etc/pexd/pexd.env")).toBe("# edited by the operator");
    expect(await show("MainPID")).not.toBe(before);
    expect(await get("/current")).toEqual({ index: 3, value: "2" });
    expect(await ok("ls /opt")).toBe("pexd");
  }, 400_000);

  test("after a reboot the enabled unit serves the same state", async () => {
    // /run is a fresh tmpfs on every boot: the marker proves the reboot happened.
    await ok("touch /run/pexd-test-before-reboot");
    await c!.reboot();
    expect((await sh("test -e /run/pexd-test-before-reboot")).code).not.toBe(0);
    await healthyWithin();
    expect(await ok("systemctl is-active pexd")).toBe("active");
    expect(await get("/next")).toEqual({ index: 4, value: "3" });
  }, 180_000);

  test("make uninstall removes the service and keeps the data", async () => {
    const r = await c!.exec(["make", "-C", "/root/pexd", "uninstall"], { timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    expect((await sh("systemctl is-active pexd")).stdout.trim()).not.toBe("active");
    expect((await sh("test -e /etc/systemd/system/pexd.service")).code).not.toBe(0);
    expect((await sh("test -e /opt/pexd")).code).not.toBe(0);
    expect((await sh("curl -fsS --max-time 2 http://127.0.0.1:8081/health")).code).not.toBe(0);
    expect(await ok("ls /var/lib/pexd")).toContain("sqlite");
    expect(await ok("test -f /etc/pexd/pexd.env && id -u pexd >/dev/null && echo kept")).toBe("kept");
  }, 180_000);

  test("make all again (Bun present) picks up the kept data; PURGE=1 removes everything", async () => {
    proxyEnv = await c!.startRegistryBridge();
    const t0 = performance.now();
    const r = await c!.exec(["make", "-C", "/root/pexd", "all"], { env: proxyEnv, timeoutMs: 300_000 });
    log(`make all on a host with Bun, no app installed: ${Math.round(performance.now() - t0)} ms to healthy`);
    if (r.code !== 0) log(`make all output:\n${r.stdout}\n${r.stderr}`);
    expect(r.code).toBe(0);
    expect(await get("/current")).toEqual({ index: 4, value: "3" });
    const u = await c!.exec(["make", "-C", "/root/pexd", "uninstall", "PURGE=1"], { timeoutMs: 120_000 });
    expect(u.code).toBe(0);
    for (const path of ["/var/lib/pexd", "/etc/pexd", "/opt/pexd", "/usr/local/bin/pexd", "/etc/systemd/system/pexd.service"])
      expect((await sh(`test -e ${path}`)).code).not.toBe(0);
    expect((await sh("id -u pexd")).code).not.toBe(0);
  }, 400_000);
});
