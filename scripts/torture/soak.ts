// Scenario "soak": mixed load for 6 minutes (full; see the budget note in scripts/torture.ts) or
// 30 s (--short) on one pexd — the counter (/next, /previous, /current, /reset: the index stays
// bounded, so values do not grow), widgets (add/associate/dissociate/remove over bounded
// serial-number pools, so the database stays small), gateway reads over HTTP (cached and not,
// single and batch), client WebSockets subscribed to newHeads while anvil mines a block a second,
// and relay frames over a bounded block range. The pexd process's RSS (VmRSS) is sampled every
// second; after a warm-up (the first 20 % of the time) the RSS level — each 10-second window's lowest
// sample, where the garbage collector brings it back — must stay within ±10 % of its median. Every answer is checked on the way (an unexpected one fails the soak), and
// at the end the widgets and acknowledged relay blocks must be exactly what was acknowledged.
import { startAnvil } from "../../test/helpers/anvil.ts";
import { rssBytes } from "../../test/helpers/wait.ts";
import { HeadSubscriber, gatewayRequest, miner, newGatewayStats } from "./gateway.ts";
import {
  type Ctx,
  Failures,
  type Rng,
  type ScenarioResult,
  excerpt,
  freePort,
  http,
  median,
  onCleanup,
  pacer,
  parseJson,
  sleep,
  spawnPexd,
} from "./lib.ts";
import { RelayLedger, WidgetWorker, canonical, listWidgets, relayWorker, servedModel } from "./model.ts";

const WARMUP = 0.2;
const TOLERANCE = 0.1;
/** Seconds (samples) per window whose lowest RSS is the level judged (see the check below). */
const FLOOR_WINDOW = 10;
/**
 * Requests per second per worker (7 workers: ≈2,100 requests/s and ≈750 relay frames/s in all). A
 * soak is a long run at a steady, realistic load, with CPU to spare: unpaced, the workers saturate
 * both cores (≈10k operations/s, the harness included) and RSS then swings with the garbage
 * collector's cadence under CPU starvation (measured: −7 % / +11 % around the median, no trend),
 * which is a stress test's question, not a leak's.
 */
const RATE_PER_WORKER = 300;

export async function runSoak(ctx: Ctx, rng: Rng): Promise<ScenarioResult> {
  const t0 = performance.now();
  // Full mode: 6 minutes, or less if the scenarios before it left less of the 10-minute budget (never under 2).
  const durationMs = ctx.short ? 30_000 : Math.round(Math.min(360_000, Math.max(120_000, ctx.budgetEndsAt - performance.now() - 15_000)));
  const failures = new Failures();
  const anvil = await startAnvil();
  const stopAnvil = onCleanup(() => anvil.stop());
  const relayPort = await freePort();
  const pexd = await spawnPexd({
    env: { PEXD_ETH_HTTP_URL: anvil.url, PEXD_ETH_WS_URL: anvil.wsUrl, PEXD_RELAY_PORT: String(relayPort), PEXD_LOG_LEVEL: "warn" },
  });
  const mining = miner((m) => anvil.rpc(m), 1000);
  const gw = newGatewayStats();
  const ledger = new RelayLedger();
  const widgets = [new WidgetWorker("s0", 12, rng.fork("w0")), new WidgetWorker("s1", 12, rng.fork("w1"))];
  const subs = [0, 1].map(
    (i) => new HeadSubscriber(`${pexd.url.replace(/^http/, "ws")}${i ? "/socket2socket" : "/eth"}`, gw, failures, rng.fork(`sub${i}`)),
  );
  const counter = { requests: 0 };
  const samples: { at: number; rss: number }[] = [];
  const end = performance.now() + durationMs;
  const over = () => performance.now() >= end;

  try {
    for (const s of subs) s.start();
    const sampler = (async () => {
      while (!over()) {
        samples.push({ at: performance.now() - t0, rss: await rssBytes(pexd.pid) });
        await sleep(1000);
      }
    })();
    await Promise.all([
      sampler,
      ...[0, 1].map((i) => counterWorker(pexd.url, rng.fork(`fib${i}`), counter, failures, over, pacer(RATE_PER_WORKER))),
      ...widgets.map((w) => w.run(pexd.url, failures, over, pacer(RATE_PER_WORKER))),
      ...[0, 1].map(async (i) => {
        const r = rng.fork(`gw${i}`);
        const pace = pacer(RATE_PER_WORKER);
        while (!over()) {
          await pace();
          const why = await gatewayRequest(pexd.url, r, gw);
          if (why) failures.add(why, "gateway answer");
        }
      }),
      relayWorker(relayPort, rng.fork("relay"), ledger, failures, 500, over, pacer(RATE_PER_WORKER)),
    ]);
    for (const s of subs) s.stop();

    // What was acknowledged is what is served (no kill here: exactly, with nothing in doubt).
    const served = await listWidgets(pexd.url);
    for (const w of widgets) {
      if (w.pendingAfter) failures.add(`widgets ${w.id}: "${w.pendingLabel}" got no answer`, "widgets");
      else if (canonical(servedModel(served, `${w.id}-`)) !== canonical(w.model))
        failures.add(`widgets ${w.id}: served state differs from the acknowledged one`, "widgets");
    }
    await ledger.verify(pexd.url, failures, [...ledger.stored.keys(), ...ledger.duplicates]);
    if (pexd.proc.exitCode !== null) failures.add(`pexd exited with ${pexd.proc.exitCode}`, "pexd died");
  } finally {
    mining.stop();
    for (const s of subs) s.stop();
    await pexd.dispose();
    await stopAnvil();
  }

  const steady = samples.filter((s) => s.at >= durationMs * WARMUP).map((s) => s.rss);
  const mid = median(steady);
  const lo = Math.min(...steady);
  const hi = Math.max(...steady);
  // RSS level = the floor the garbage collector brings it back to: the lowest sample of each
  // FLOOR_WINDOW-second window. A leak raises the floors; a collection peak between two collections
  // (measured up to +15 % for a second or two, with no trend) does not, so the ±10 % rule is applied
  // to the floors, and the raw extremes are reported beside them.
  const floors: number[] = [];
  for (let i = 0; i + FLOOR_WINDOW <= steady.length; i += FLOOR_WINDOW) floors.push(Math.min(...steady.slice(i, i + FLOOR_WINDOW)));
  const floorMid = median(floors);
  const outside = floors.filter((r) => Math.abs(r - floorMid) > TOLERANCE * floorMid);
  if (floors.length < 2) failures.add(`only ${steady.length} RSS samples after the warm-up`, "RSS");
  if (outside.length > 0) {
    failures.add(
      `${outside.length} of ${floors.length} ${FLOOR_WINDOW}-second RSS floors outside ±${TOLERANCE * 100} % of their median ${mib(floorMid)} (floors MiB: ${floors.map((r) => (r / 2 ** 20).toFixed(0)).join(" ")}); samples MiB: ${samples.map((s) => (s.rss / 2 ** 20).toFixed(0)).join(" ")}`,
      "RSS",
    );
  }
  // Growth, told apart from the garbage collector's sawtooth: the last third's median against the first third's.
  const third = Math.floor(steady.length / 3);
  const trend = third > 0 ? (median(steady.slice(-third)) - median(steady.slice(0, third))) / median(steady.slice(0, third)) : Number.NaN;
  const widgetAcks = widgets.reduce((a, w) => a + w.acked, 0);
  return {
    name: "soak",
    tried: `${(durationMs / 1000).toFixed(0)} s mixed: ${counter.requests} counter, ${widgetAcks} widget mutations, ${gw.requests} gateway (${subs.reduce((a, s) => a + s.heads, 0)} heads), ${ledger.frames} relay frames`,
    failed: `${failures.count} failures${failures.count ? `: ${failures.summary()}` : ""}`,
    measured: `RSS after ${WARMUP * 100} % warm-up (${steady.length} samples): ${FLOOR_WINDOW}-s floors ${mib(Math.min(...floors))}–${mib(Math.max(...floors))} around ${mib(floorMid)} (${pct(Math.min(...floors), floorMid)} / +${pct(Math.max(...floors), floorMid)}); raw min ${mib(lo)}, median ${mib(mid)}, max ${mib(hi)} (${pct(lo, mid)} / +${pct(hi, mid)}); trend (last third vs first) ${(trend * 100).toFixed(1)} %`,
    pass: failures.count === 0,
    details: failures.items,
    seconds: (performance.now() - t0) / 1000,
  };
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const pct = (v: number, mid: number) => `${(((v - mid) / mid) * 100).toFixed(1)} %`;

/** /next, /previous and /current in equal measure (a random walk: the index and its value stay small), now and then /reset. */
async function counterWorker(
  url: string,
  rng: Rng,
  counter: { requests: number },
  failures: Failures,
  over: () => boolean,
  pace: () => Promise<void>,
): Promise<void> {
  while (!over()) {
    await pace();
    const route = rng.weighted([
      [4, "/next"],
      [4, "/previous"],
      [3, "/current"],
      [0.02, "/reset"],
    ] as const);
    const r = await http(url + route, { method: route === "/current" ? "GET" : "POST" });
    counter.requests++;
    const body = parseJson(r.text) as { index?: unknown; value?: unknown } | undefined;
    if (r.status !== 200 || typeof body?.index !== "number" || typeof body.value !== "string") {
      failures.add(`${route} → ${r.status} ${excerpt(r.text)}`, "counter");
    }
  }
}
