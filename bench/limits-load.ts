// The rate limiter under load (wrk), beside a bare Bun.serve baseline measured in the same run:
// 1. its cost on cached GET /blocknumber, limiter on (never reached) vs off, interleaved rounds;
// 2. fairness: one address floods with 20 connections while a second client reads /current; its
//    p99 is compared with the same client's p99 when nobody floods.
// Usage: bun run bench/limits-load.ts [--duration 5] [--rounds 5]
import { record } from "./targets.ts";
import { readFileSync } from "node:fs";
import { parseCli } from "../scripts/lib/cli.ts";
import { startAnvil } from "../test/helpers/anvil.ts";
import { haveWrk, luaRequest, markdownTable, median, startBaseline, startPexd, wrk } from "./lib.ts";

const { values } = parseCli({
  usage: "bun run bench/limits-load.ts [options]",
  about: "The rate limiter under load: its cost, and a second client's p99 during a flood, beside a bare Bun.serve baseline.",
  options: {
    duration: { type: "number", integer: true, min: 1, default: 5, arg: "S", help: "seconds per wrk run" },
    rounds: { type: "number", integer: true, min: 1, default: 5, help: "rounds, median" },
  },
});
const { duration, rounds } = values;
if (!haveWrk()) {
  console.error("wrk not found (apt-get install -y wrk)");
  process.exit(1);
}

/** CPU time (user + system) of a process in µs. */
const cpuUs = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10_000;
};

const anvil = await startAnvil();
const base = await startBaseline();
// The cached answer stays for the whole run (no head moves, a long TTL): only the route is measured.
const common = { PEXD_ETH_HTTP_URL: anvil.url, PEXD_LOG_LEVEL: "warn", PEXD_ETH_CACHE_TTL_MS: "3600000" };
const off = await startPexd(common);
const on = await startPexd({ ...common, PEXD_RATE_LIMIT: "100000000/s" }).catch(async (e) => {
  await off.stop();
  throw e;
});
const rows: Record<string, string | number>[] = [];
try {
  for (const s of [off, on]) await fetch(`${s.url}/blocknumber`);
  const baseRps: number[] = [];
  const offRps: number[] = [];
  const onRps: number[] = [];
  const ratios: number[] = [];
  const offCpu: number[] = [];
  const onCpu: number[] = [];
  for (let r = 0; r < rounds; r++) {
    baseRps.push((await wrk({ url: `${base.url}/`, duration, connections: 32 })).rps);
    // Alternating which goes first, so a drift of the machine's load does not favour one side.
    const pair = [
      [off, offRps, offCpu],
      [on, onRps, onCpu],
    ] as const;
    for (const [s, rps, cpu] of r % 2 ? [...pair].reverse() : pair) {
      const c0 = cpuUs(s.pid);
      const w = await wrk({ url: `${s.url}/blocknumber`, duration, connections: 32 });
      if (w.non2xx || w.errors) throw new Error(`${w.non2xx} non-2xx, ${w.errors} socket errors`);
      rps.push(w.rps);
      cpu.push((cpuUs(s.pid) - c0) / w.requests);
    }
    ratios.push(onRps.at(-1)! / offRps.at(-1)!);
  }
  const b = median(baseRps);
  rows.push(
    { case: "bare Bun.serve baseline", "req/s": Math.round(b), "× baseline": 1, "CPU µs/req": "" },
    {
      case: "GET /blocknumber (cached), limiter off",
      "req/s": Math.round(median(offRps)),
      "× baseline": median(offRps) / b,
      "CPU µs/req": median(offCpu),
    },
    {
      case: "GET /blocknumber (cached), limiter on",
      "req/s": Math.round(median(onRps)),
      "× baseline": median(onRps) / b,
      "CPU µs/req": median(onCpu),
    },
  );
  console.log(markdownTable(rows));
  const cost = 1 - median(ratios);
  record(
    "limiter-cost",
    cost,
    `on/off per round ${ratios.map((x) => x.toFixed(3)).join(", ")}; CPU ${median(onCpu).toFixed(1)} vs ${median(offCpu).toFixed(1)} µs/req`,
  );
  console.log(
    `\nlimiter cost on cached GET /blocknumber: ${(cost * 100).toFixed(1)}% (on/off per round: ${ratios.map((x) => x.toFixed(3)).join(", ")}; median of ${rounds}); CPU per request ${median(onCpu).toFixed(1)} µs on vs ${median(offCpu).toFixed(1)} µs off. Target ≤ 3%.`,
  );
} finally {
  await off.stop();
  await on.stop();
}

// Fairness: a client reading /current (2 connections) alone, then beside a 20-connection flood from
// another address that the limit refuses (429); both behind a trusted proxy header, so one machine
// can play two clients.
const p = await startPexd({
  PEXD_LOG_LEVEL: "warn",
  PEXD_RATE_LIMIT: "100/s,burst=200",
  PEXD_TRUSTED_PROXIES: "127.0.0.1/32",
});
try {
  const victim = luaRequest("GET", undefined, { "X-Forwarded-For": "198.51.100.2" });
  const flooder = luaRequest("GET", undefined, { "X-Forwarded-For": "203.0.113.1" });
  // The victim stays under its own limit: 2 connections with a pause between requests.
  const paced = `${victim}\nfunction delay() return 25 end`;
  const alone: number[] = [];
  const flooded: number[] = [];
  let floodRps = 0;
  let flood429 = 0;
  for (let r = 0; r < rounds; r++) {
    const a = await wrk({ url: `${p.url}/current`, duration, connections: 2, lua: paced });
    if (a.non2xx) throw new Error(`the victim was limited alone: ${a.non2xx} non-2xx`);
    alone.push(a.p99ms);
    const [f, v] = await Promise.all([
      wrk({ url: `${p.url}/current`, duration, connections: 20, lua: flooder }),
      wrk({ url: `${p.url}/current`, duration, connections: 2, lua: paced }),
    ]);
    if (v.non2xx) throw new Error(`the victim was limited during the flood: ${v.non2xx} non-2xx`);
    flooded.push(v.p99ms);
    floodRps = f.rps;
    flood429 = f.non2xx / Math.max(1, f.requests);
  }
  record("flood-fairness", median(flooded) / median(alone), `p99 ${median(flooded)} vs ${median(alone)} ms`);
  console.log(
    `\n${markdownTable([
      { case: "second client alone, GET /current p99 ms", value: median(alone) },
      { case: "second client during a 20-connection flood, p99 ms", value: median(flooded) },
      { case: "ratio (target < 2)", value: median(flooded) / median(alone) },
      { case: "flood req/s (last round)", value: Math.round(floodRps) },
      { case: "flood answers that were 429", value: `${(flood429 * 100).toFixed(1)}%` },
    ])}`,
  );
} finally {
  await p.stop();
  await base.stop();
  await anvil.stop();
}
