// Relay benchmarks, each against its baseline in the same run:
//  1. ingest: frames/s into `pexd relay-server` from 50 concurrent senders (4 KiB documents) vs a bare
//     Bun TCP echo server (bench/relay-echo.ts); every frame must be stored or counted.
//  2. delay: anvil evm_mine → block stored by the relay server (watcher and server in one pexd), p50/p99.
// Usage: bun run bench/relay-load.ts [--senders 50] [--frames 400] [--rounds 3] [--blocks 200]
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseCli } from "../scripts/lib/cli.ts";
import { startAnvil } from "../test/helpers/anvil.ts";
import { pexdCommand, ROOT, startPexd, tempDir } from "../test/helpers/pexd.ts";
import { readFileSync, rmSync } from "node:fs";
import { BENCH_DIR, markdownTable, median, rssKiB } from "./lib.ts";
import { record, recordBaseline } from "./targets.ts";

const { values } = parseCli({
  usage: "bun run bench/relay-load.ts [options]",
  about: "Relay ingest into `pexd relay-server` vs a bare TCP echo server, and the evm_mine → stored delay.",
  options: {
    senders: { type: "number", integer: true, min: 1, default: 50, help: "concurrent sender connections" },
    frames: { type: "number", integer: true, min: 1, default: 400, help: "4 KiB frames per sender per round" },
    rounds: { type: "number", integer: true, min: 1, default: 3, help: "alternating ingest rounds, median" },
    blocks: {
      type: "number",
      integer: true,
      min: 1,
      default: 200,
      help: "blocks mined for the delay figure (newHeads; polling: at most 20)",
    },
  },
});
const { senders: SENDERS, frames: FRAMES, rounds: ROUNDS, blocks: BLOCKS } = values;

async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

async function startEcho(): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const proc = Bun.spawn([process.execPath, resolve(BENCH_DIR, "relay-echo.ts")], { stdout: "pipe", stderr: "inherit" });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  const port = JSON.parse(new TextDecoder().decode(value).split("\n")[0]!).port as number;
  return {
    port,
    pid: proc.pid,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

/** CPU time (user + system) of a process so far, in µs, from /proc/<pid>/stat (clock ticks of 10 ms). */
function cpuMicros(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

async function senders(port: number, mode: "echo" | "relay", unique: boolean, base: number): Promise<{ ms: number; frames: number }> {
  const p = Bun.spawn(
    [
      process.execPath,
      resolve(BENCH_DIR, "relay-senders.ts"),
      "127.0.0.1",
      String(port),
      String(SENDERS),
      String(FRAMES),
      mode,
      unique ? "1" : "0",
      String(base),
    ],
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const out = await new Response(p.stdout).text();
  if ((await p.exited) !== 0) throw new Error(`senders failed: ${await new Response(p.stderr).text()}`);
  return JSON.parse(out.trim().split("\n").pop()!) as { ms: number; frames: number };
}

interface Stats {
  blocks: number;
  frames: number;
  duplicates: number;
  rejected: number;
}
const stats = async (url: string) => (await (await fetch(`${url}/stats`)).json()) as Stats;

/** pexd with its log going to a file (as to journald): the test helper parses every line in this process. */
async function spawnQuiet(args: string[], env: Record<string, string>) {
  const dir = tempDir("pexd-bench-relay-");
  const httpPort = await freePort();
  const proc = Bun.spawn(pexdCommand(args), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PEXD_PORT: String(httpPort), PEXD_DATA_DIR: dir, ...env },
    stdout: Bun.file(join(dir, "pexd.log")),
    stderr: "inherit",
  });
  const url = `http://127.0.0.1:${httpPort}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      if (i > 1200) throw new Error("pexd did not start");
    }
    await Bun.sleep(50);
  }
  return {
    url,
    pid: proc.pid,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- 1. ingest ----
const echo = await startEcho();
const relayPort = await freePort();
// Every sender connects from 127.0.0.1: the per-address limit must admit them all (else the surplus is answered busy).
const server = await spawnQuiet(["relay-server"], {
  PEXD_RELAY_PORT: String(relayPort),
  PEXD_LOG_LEVEL: "info",
  PEXD_RELAY_MAX_CONNECTIONS_PER_IP: String(Math.max(SENDERS, 32)),
});
const rows: Record<string, string | number>[] = [];
const ratios: number[] = [];
let base = 1_000_000_000;
for (const unique of [true, false]) {
  const echoFps: number[] = [];
  const relayFps: number[] = [];
  const echoCpu: number[] = [];
  const relayCpu: number[] = [];
  let accounted = true;
  for (let r = 0; r < ROUNDS; r++) {
    const ec0 = cpuMicros(echo.pid);
    const e = await senders(echo.port, "echo", unique, base);
    echoCpu.push((cpuMicros(echo.pid) - ec0) / e.frames);
    echoFps.push((e.frames / e.ms) * 1000);
    const before = await stats(server.url);
    const rc0 = cpuMicros(server.pid);
    // Timed inside the senders process, as the echo baseline is: until every frame was answered, and
    // the server answers a frame only once its outcome is committed.
    const s = await senders(relayPort, "relay", unique, base);
    relayCpu.push((cpuMicros(server.pid) - rc0) / s.frames);
    let after = await stats(server.url);
    for (let i = 0; after.frames - before.frames < s.frames && i < 200; i++) {
      await Bun.sleep(5);
      after = await stats(server.url);
    }
    relayFps.push((s.frames / s.ms) * 1000);
    const d = {
      frames: after.frames - before.frames,
      blocks: after.blocks - before.blocks,
      dup: after.duplicates - before.duplicates,
      rej: after.rejected - before.rejected,
    };
    accounted &&= d.frames === s.frames && d.blocks + d.dup + d.rej === d.frames && d.blocks === (unique ? s.frames : FRAMES);
    base += SENDERS * FRAMES;
  }
  const ratio = median(relayFps) / median(echoFps);
  ratios.push(ratio);
  if (unique) {
    recordBaseline("bare Bun TCP echo (50 senders, 4 KiB frames)", median(echoFps), "frames/s");
    record(
      "relay-ingest",
      accounted ? ratio : NaN,
      `${Math.round(median(relayFps))} frames/s, ${Math.round(median(relayCpu))} µs CPU/frame, median of ${ROUNDS}`,
    );
  }
  rows.push({
    documents: unique ? "every frame a new block" : `${SENDERS} copies of each block`,
    "echo baseline frames/s": Math.round(median(echoFps)),
    "relay-server frames/s (stored)": Math.round(median(relayFps)),
    ratio,
    "echo CPU µs/frame": Math.round(median(echoCpu)),
    "relay-server CPU µs/frame": Math.round(median(relayCpu)),
    "every frame stored or counted": accounted ? "yes" : "NO",
  });
}
const serverRss = rssKiB(server.pid);
// RSS includes the SQLite file pages mapped by PRAGMA mmap_size (reclaimable); anonymous memory is the heap.
const anonKiB = Number(/RssAnon:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, "utf8"))?.[1] ?? 0);
await server.stop();
await echo.stop();

// ---- 2. delay from evm_mine to stored ----
const anvil = await startAnvil();
const delayRows: Record<string, string | number>[] = [];
for (const head of ["newHeads (WebSocket)", "polling only (1 s)"]) {
  const port = await freePort();
  const env: Record<string, string> = {
    PEXD_RELAY_PORT: String(port),
    PEXD_RELAY_TARGETS: `127.0.0.1:${port}`,
    PEXD_ETH_HTTP_URL: anvil.url,
  };
  if (head.startsWith("newHeads")) env.PEXD_ETH_WS_URL = anvil.wsUrl;
  const p = await startPexd({ env, timeoutMs: 120_000 });
  const startLine = async () => p.logs.find((l) => l.msg === "relay watcher started");
  while (!(await startLine())) await Bun.sleep(20);
  // The watcher follows the gateway's head tracker: wait for its newHeads subscription.
  if (env.PEXD_ETH_WS_URL) while (!p.logs.some((l) => l.msg === "head tracker: newHeads subscribed")) await Bun.sleep(20);
  const n = head.startsWith("newHeads") ? BLOCKS : Math.min(BLOCKS, 20);
  const minedAt = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const t = Date.now();
    await anvil.rpc("evm_mine");
    minedAt.set(Number(BigInt(await anvil.rpc<string>("eth_blockNumber"))), t);
    // Spaced so each block is its own head event (blocks of a real chain arrive seconds apart).
    await Bun.sleep(head.startsWith("newHeads") ? 25 : 300);
  }
  const last = Math.max(...minedAt.keys());
  let items: { number: number; received_at: string }[] = [];
  for (let tries = 0; tries < 600; tries++) {
    items = ((await (await fetch(`${p.url}/stats/blocks?limit=1000`)).json()) as { items: typeof items }).items;
    if (items.some((b) => b.number === last)) break;
    await Bun.sleep(50);
  }
  const delays = items
    .filter((b) => minedAt.has(b.number))
    .map((b) => Date.parse(b.received_at) - minedAt.get(b.number)!)
    .sort((a, b) => a - b);
  const pct = (q: number) => delays[Math.min(delays.length - 1, Math.ceil(q * delays.length) - 1)]!;
  delayRows.push({
    "head source": head,
    blocks: delays.length,
    missing: n - delays.length,
    "p50 ms": pct(0.5),
    "p99 ms": pct(0.99),
    "max ms": delays[delays.length - 1]!,
  });
  if (head.startsWith("newHeads")) record("relay-delay-p99", pct(0.99), `${delays.length} blocks, ${n - delays.length} missing`);
  await p.stop();
  await p.dispose();
}
await anvil.stop();

const report = `## Relay benchmarks (${new Date().toISOString()})

Ingest: ${SENDERS} concurrent senders × ${FRAMES} frames of 4 KiB per round, median of ${ROUNDS} alternating rounds; the
relay server runs as \`pexd relay-server\` (SQLite, log level info: one log line per frame); the baseline is a bare
Bun.listen echo server. Both are timed by the senders' process (not its start): echo until every byte came back, relay until
every frame was answered (\`stored\`/\`duplicate\`, written once committed). CPU µs/frame: the server process's user + system time. Server RSS after ingest: ${Math.round(serverRss / 1024)} MiB, of which anonymous (heap) ${Math.round(anonKiB / 1024)} MiB (the rest: database pages mapped by mmap_size).

${markdownTable(rows)}

Delay from \`evm_mine\` (client clock before the call) to the relay server's \`received_at\` (ms resolution), one pexd
running watcher and server, anvil on loopback:

${markdownTable(delayRows)}
`;
console.log(report);
writeFileSync(join(BENCH_DIR, "results", "relay.md"), report);
