// mitata: the gateway's per-request CPU on the cached path (policy, cache key, LRU lookup, answer
// serialization) and the cache's insert-with-eviction cost. No upstream is called in these loops.
import { bench, group, run, summary } from "mitata";
import { ResponseCache } from "../src/eth/eth.cache.ts";
import { cacheKey, classify } from "../src/eth/eth.policy.ts";
import { EthGateway } from "../src/eth/eth.gateway.ts";
import { HttpTransport } from "../src/eth/http.transport.ts";
import { startAnvil } from "../test/helpers/anvil.ts";
import { parseCli } from "../scripts/lib/cli.ts";

parseCli({
  usage: "bun run bench/eth.bench.ts [options]",
  about: "mitata: the gateway's per-request CPU on the cached path and the cache's insert-with-eviction cost (starts anvil)",
  options: {},
});

const anvil = await startAnvil();
const gw = new EthGateway({
  transport: new HttpTransport({ upstreams: [{ label: anvil.url, url: anvil.url }], timeoutMs: 10_000 }),
  cacheTtlMs: 3_600_000,
  cacheMaxBytes: 1 << 26,
  finalityDepth: 0,
});
const blockReq = { jsonrpc: "2.0" as const, id: 7, method: "eth_getBlockByNumber", params: ["0x0", true] };
const numReq = { jsonrpc: "2.0" as const, id: 1, method: "eth_blockNumber" };
await gw.handle(numReq);
await gw.handle(blockReq);
const callParams = [
  { to: "0x000000000000000000000000000000000000dEaD", data: "0x70a08231000000000000000000000000f39fd6e51aad88f6f4ce6ab8827279cfffb92266" },
  "latest",
];
const value = JSON.stringify("x".repeat(1000));
const small = new ResponseCache(1 << 20);
let i = 0;

group("cached path", () => {
  summary(() => {
    bench("handle eth_blockNumber (HIT) + text()", async () => (await gw.handle(numReq)).text());
    bench("peek eth_blockNumber (sync HIT) + text()", () => gw.peek("eth_blockNumber", 1)!.text());
    bench("handle eth_getBlockByNumber full block (HIT) + text()", async () => (await gw.handle(blockReq)).text());
  });
});

group("policy", () => {
  bench("classify eth_call latest", () => classify("eth_call", callParams));
  bench("cacheKey eth_call", () => cacheKey("eth_call", callParams));
});

group("cache", () => {
  bench("set 1 KB with eviction (1 MiB bound)", () => small.set(`k${i++}`, value, Infinity, false));
});

await run();
await anvil.stop();
