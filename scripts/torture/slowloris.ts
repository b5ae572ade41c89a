// Scenario "slowloris": 1,000 HTTP connections that send a request line and then trickle header
// bytes (one every 1–3 s, never finishing the headers), and 1,000 idle TCP connections to the relay
// port (from 40 loopback addresses, so the 256-connection limit is reached, not only the 32 per
// address), while a separate process times sequential GET /health requests for ~10 s. Passes when
// the /health p99 is under 50 ms and no /health request fails. Relay connections refused with
// `busy` (and idle ones closed to make room) are expected and counted.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type Socket } from "node:net";
import {
  type Ctx,
  Failures,
  type Rng,
  type ScenarioResult,
  alive,
  fmtMs,
  freePort,
  http,
  onCleanup,
  percentile,
  sleep,
  spawnPexd,
} from "./lib.ts";

const HTTP_CONNS = 1000;
const RELAY_CONNS = 1000;
const RELAY_SOURCES = 40;
const P99_LIMIT_MS = 50;

/** Soft limit of open files; raised in place with prlimit(1) when too low (Bun has no setrlimit). */
function ensureFdLimit(need: number): number {
  const read = () => Number(/Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"))?.[1] ?? 0);
  if (read() >= need) return read();
  const hard = /Max open files\s+\d+\s+(\d+|unlimited)/.exec(readFileSync("/proc/self/limits", "utf8"))?.[1] ?? String(need);
  const target = hard === "unlimited" ? need : Math.min(need, Number(hard));
  Bun.spawnSync(["prlimit", "--pid", String(process.pid), `--nofile=${target}:${hard === "unlimited" ? target : hard}`]);
  return read();
}

interface Counts {
  opened: number;
  failedToOpen: number;
  closedByServer: number;
  busy: number;
}

/** Opens one connection; resolves once connected (or failed). */
function open(port: number, localAddress: string | undefined, c: Counts, onData?: (s: Socket, d: Buffer) => void): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port, ...(localAddress ? { localAddress } : {}) });
    s.once("connect", () => {
      c.opened++;
      resolve(s);
    });
    s.once("error", () => resolve(null));
    s.on("error", () => {});
    s.on("close", () => c.closedByServer++);
    if (onData) s.on("data", (d: Buffer) => onData(s, d));
  });
}

export async function runSlowloris(ctx: Ctx, rng: Rng): Promise<ScenarioResult> {
  const t0 = performance.now();
  const failures = new Failures();
  const fds = ensureFdLimit(HTTP_CONNS + RELAY_CONNS + 1024);
  if (fds < HTTP_CONNS + RELAY_CONNS + 256) throw new Error(`open files limit ${fds} is too low (run under ulimit -n 4096)`);
  const relayPort = await freePort();
  const pexd = await spawnPexd({ env: { PEXD_RELAY_PORT: String(relayPort), PEXD_LOG_LEVEL: "warn" } });
  const sockets: Socket[] = [];
  const destroyAll = onCleanup(() => {
    for (const s of sockets) s.destroy();
  });
  const httpCounts: Counts = { opened: 0, failedToOpen: 0, closedByServer: 0, busy: 0 };
  const relayCounts: Counts = { opened: 0, failedToOpen: 0, closedByServer: 0, busy: 0 };
  const timers: ReturnType<typeof setTimeout>[] = [];
  let stopped = false;

  try {
    // HTTP: a request line, then one header byte every 1–3 s; the blank line never comes.
    for (let i = 0; i < HTTP_CONNS; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, HTTP_CONNS - i) }, () => open(pexd.port, undefined, httpCounts)));
      for (const [j, s] of batch.entries()) {
        if (!s) {
          httpCounts.failedToOpen++;
          continue;
        }
        sockets.push(s);
        s.write(`GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n`);
        const line = `X-Slow-${i + j}: ${"z".repeat(20)}\r\n`;
        let k = 0;
        const r = rng.fork(`conn${i + j}`);
        const drip = () => {
          if (stopped || s.destroyed) return;
          s.write(line[k++ % line.length]!);
          timers.push(setTimeout(drip, r.int(1000, 3000)));
        };
        timers.push(setTimeout(drip, r.int(1000, 3000)));
      }
    }
    // Relay: connect and say nothing; a `busy` answer means refused at a limit.
    for (let i = 0; i < RELAY_CONNS; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, RELAY_CONNS - i) }, (_, j) =>
          open(relayPort, `127.0.1.${1 + ((i + j) % RELAY_SOURCES)}`, relayCounts, (_s, d) => {
            if (d.toString().includes("busy")) relayCounts.busy++;
          }),
        ),
      );
      for (const s of batch) {
        if (s) sockets.push(s);
        else relayCounts.failedToOpen++;
      }
    }
    ctx.log(`slowloris: ${httpCounts.opened} HTTP + ${relayCounts.opened} relay connections open; probing /health`);

    // /health from another process while the connections are held.
    const probe = Bun.spawn([process.execPath, join(import.meta.dir, "health-probe.ts"), pexd.url, String(ctx.short ? 8000 : 10_000)], {
      stdout: "pipe",
      stderr: "inherit",
    });
    const killProbe = onCleanup(() => probe.kill("SIGKILL"));
    const out = await new Response(probe.stdout).text();
    await probe.exited;
    await killProbe();
    const { latencies, failures: probeFailures } = JSON.parse(out) as { latencies: number[]; failures: string[] };
    for (const f of probeFailures.slice(0, 20)) failures.add(`GET /health failed: ${f}`, "/health failed");
    const sorted = [...latencies].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    if (!(p99 < P99_LIMIT_MS))
      failures.add(`GET /health p99 ${p99.toFixed(1)} ms ≥ ${P99_LIMIT_MS} ms (max ${sorted.at(-1)?.toFixed(1)} ms)`, "/health p99");
    const heldHttp = sockets.filter((s) => !s.destroyed && s.remotePort === pexd.port).length;
    if (!alive(pexd.pid) || (await http(`${pexd.url}/health`)).status !== 200)
      failures.add("pexd not healthy after the slowloris", "pexd died");
    stopped = true;

    return {
      name: "slowloris",
      tried: `${httpCounts.opened} slow HTTP + ${relayCounts.opened} idle relay connections; ${latencies.length + probeFailures.length} sequential GET /health (new connection each)`,
      failed: `${probeFailures.length} /health failures; relay refused busy ${relayCounts.busy}, closed by pexd ${relayCounts.closedByServer} (incl. busy and idle evictions); HTTP closed by pexd ${httpCounts.closedByServer}`,
      measured: `/health p50 ${fmtMs(p50)}, p99 ${fmtMs(p99)}, max ${fmtMs(sorted.at(-1) ?? Number.NaN)}; slow HTTP connections still held at the end ${heldHttp}`,
      pass: failures.count === 0,
      details: failures.items,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    stopped = true;
    for (const t of timers) clearTimeout(t);
    await destroyAll();
    await sleep(100);
    await pexd.dispose();
  }
}
