// Scenario "anvil": the Ethereum upstream is killed and restarted K times (a fresh chain each time:
// block numbers start from 0 again) while load runs against pexd: GET /blocknumber, /ws/blocknumber,
// /eth_chainId, POST /blockbynumber and POST /eth (single and batch), and client WebSockets (at
// /eth and /socket2socket) subscribed to newHeads that also send calls. Every answer must be a
// correct one or a documented upstream failure (502/503/504 with their codes; -32603 with data.code
// upstream_error|upstream_timeout|upstream_unavailable). After each restart it measures how long
// until an uncached HTTP call succeeds again and until every newHeads subscriber gets a head again.
import { startAnvil } from "../../test/helpers/anvil.ts";
import { ADDRESS_0, HeadSubscriber, gatewayRequest, judgeEth, miner, newGatewayStats } from "./gateway.ts";
import { type Ctx, Failures, type Rng, type ScenarioResult, fmtMs, http, median, onCleanup, sleep, spawnPexd } from "./lib.ts";

const HTTP_WORKERS = 4;
const SUBSCRIBERS = 4;
/** A recovery slower than this is a failure (the WebSocket reconnect backoff is capped at 10 s). */
const RECOVERY_LIMIT_MS = 30_000;

export async function runAnvil(ctx: Ctx, rng: Rng): Promise<ScenarioResult> {
  const t0 = performance.now();
  const restarts = ctx.short ? 3 : 10;
  const failures = new Failures();
  const stats = newGatewayStats();
  const anvil = await startAnvil();
  const stopAnvil = onCleanup(() => anvil.stop());
  const pexd = await spawnPexd({
    env: { PEXD_ETH_HTTP_URL: anvil.url, PEXD_ETH_WS_URL: anvil.wsUrl, PEXD_ETH_TIMEOUT_MS: "3000", PEXD_LOG_LEVEL: "warn" },
  });
  const mining = miner((m) => anvil.rpc(m), 250);
  const wsBase = pexd.url.replace(/^http/, "ws");
  const subs = Array.from(
    { length: SUBSCRIBERS },
    (_, i) => new HeadSubscriber(`${wsBase}${i % 2 ? "/socket2socket" : "/eth"}`, stats, failures, rng.fork(`sub${i}`)),
  );
  let done = false;
  const httpRecovery: number[] = [];
  const headRecovery: number[] = [];

  // Closed-loop HTTP load with a short pause, so the harness leaves pexd some of the 2 cores.
  const load = Array.from({ length: HTTP_WORKERS }, async (_, i) => {
    const r = rng.fork(`http${i}`);
    while (!done) {
      const why = await gatewayRequest(pexd.url, r, stats);
      if (why) failures.add(why, "gateway answer");
      await sleep(5);
    }
  });

  try {
    for (const s of subs) s.start();
    await waitHeads(subs, performance.now() - 1, RECOVERY_LIMIT_MS); // everyone subscribed and fed once
    for (let k = 1; k <= restarts; k++) {
      await sleep(ctx.short ? rng.int(600, 1200) : rng.int(1000, 2500)); // steady state, with load and mining
      await anvil.stop();
      await sleep(ctx.short ? rng.int(300, 1200) : rng.int(300, 2500)); // upstream down: every answer must be a documented failure
      await anvil.restart();
      const upAt = performance.now();
      httpRecovery.push(await untilUncachedCallSucceeds(pexd.url, stats, failures));
      const heads = await waitHeads(subs, upAt, RECOVERY_LIMIT_MS);
      if (heads === null)
        failures.add(
          `restart ${k}: a newHeads subscriber got no head within ${RECOVERY_LIMIT_MS} ms of anvil's restart`,
          "newHeads not back",
        );
      else headRecovery.push(heads);
      ctx.log(`anvil restart ${k}/${restarts}: HTTP back after ${fmtMs(httpRecovery.at(-1)!)}, heads after ${fmtMs(heads ?? Number.NaN)}`);
    }
    await sleep(1000);
    const overdue = subs.reduce((a, s) => a + s.overdue(15_000), 0);
    if (overdue > 0) failures.add(`${overdue} WebSocket calls unanswered for more than 15 s on open sockets`, "WebSocket call unanswered");
    if (pexd.proc.exitCode !== null) failures.add(`pexd exited with ${pexd.proc.exitCode}`, "pexd died");
  } finally {
    done = true;
    mining.stop();
    for (const s of subs) s.stop();
    await Promise.all(load);
    await pexd.dispose();
    await stopAnvil();
  }

  const heads = subs.reduce((a, s) => a + s.heads, 0);
  const closes = new Map<number, number>();
  for (const s of subs) for (const [c, n] of s.closes) closes.set(c, (closes.get(c) ?? 0) + n);
  const documented = [...stats.documented].map(([k, v]) => `${k}: ${v}`).join(", ");
  const recoveredAll = httpRecovery.every((ms) => ms < RECOVERY_LIMIT_MS) && headRecovery.length === restarts;
  return {
    name: "anvil",
    tried: `${restarts} anvil kill+restart; ${stats.requests} gateway requests (${stats.calls} JSON-RPC answers, ${stats.ok} correct), ${heads} heads to ${SUBSCRIBERS} subscribers`,
    failed: `${failures.count} failures${failures.count ? ` (${failures.summary()})` : ""}; documented upstream errors: ${documented || "none"}; client WebSocket closes: ${[...closes].map(([c, n]) => `${c}×${n}`).join(", ") || "none"}`,
    measured: `HTTP back after max ${fmtMs(Math.max(...httpRecovery))} (median ${fmtMs(median(httpRecovery))}); newHeads back after max ${fmtMs(headRecovery.length ? Math.max(...headRecovery) : Number.NaN)} (median ${fmtMs(median(headRecovery))})`,
    pass: failures.count === 0 && recoveredAll,
    details: failures.items,
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * Time from now until POST /eth eth_getBalance(…, "pending") succeeds: `pending` is never cached, so
 * only a live upstream can answer it (a cached /blocknumber could answer while the node is dead).
 */
async function untilUncachedCallSucceeds(url: string, stats: ReturnType<typeof newGatewayStats>, failures: Failures): Promise<number> {
  const t0 = performance.now();
  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_getBalance", params: [ADDRESS_0, "pending"] });
  while (performance.now() - t0 < RECOVERY_LIMIT_MS) {
    const r = await http(`${url}/eth`, { method: "POST", body });
    const okBefore = stats.ok;
    const why = judgeEth(r, ["eth_getBalance"], false, stats);
    if (why) failures.add(`recovery probe POST /eth eth_getBalance pending: ${why}`, "gateway answer");
    else if (stats.ok > okBefore) return performance.now() - t0;
    await sleep(20);
  }
  return Number.POSITIVE_INFINITY;
}

/** Time from `since` until every subscriber has received a head after `since` (null on timeout). */
async function waitHeads(subs: HeadSubscriber[], since: number, limitMs: number): Promise<number | null> {
  while (performance.now() - since < limitMs) {
    if (subs.every((s) => s.lastHeadAt > since)) return Math.max(...subs.map((s) => s.lastHeadAt)) - since;
    await sleep(20);
  }
  return null;
}
