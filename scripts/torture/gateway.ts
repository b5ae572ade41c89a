// Load on the Ethereum gateway and the judge of its answers, shared by the anvil scenario (upstream
// killed and restarted) and the soak. An answer is either correct (a hex block number, chain id
// 0x7a69, …) or one of the documented upstream failures; anything else is a failure.
import {
  type Answer,
  type Failures,
  type NoAnswer,
  badUpstreamRpcError,
  excerpt,
  http,
  parseJson,
  type Rng,
  sleep,
  undocumented5xx,
} from "./lib.ts";

export const CHAIN_ID = "0x7a69";
const HEX = /^0x[0-9a-f]+$/;
export const ADDRESS_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

/** What a correct result of each method we send looks like. */
export const RESULT_OK: Record<string, (r: unknown) => boolean> = {
  eth_chainId: (r) => r === CHAIN_ID,
  eth_blockNumber: (r) => typeof r === "string" && HEX.test(r),
  eth_gasPrice: (r) => typeof r === "string" && HEX.test(r),
  eth_getBalance: (r) => typeof r === "string" && HEX.test(r),
  eth_getBlockByNumber: (r) => r === null || (typeof r === "object" && typeof (r as { number?: unknown }).number === "string"),
};

export interface GatewayStats {
  requests: number;
  /** JSON-RPC calls judged (a batch counts each element) and how many were correct. */
  calls: number;
  ok: number;
  /** Documented failures, by kind ("502 upstream_error", "-32603 upstream_timeout", …). */
  documented: Map<string, number>;
}

export const newGatewayStats = (): GatewayStats => ({ requests: 0, calls: 0, ok: 0, documented: new Map() });

function noteDocumented(s: GatewayStats, kind: string): void {
  s.documented.set(kind, (s.documented.get(kind) ?? 0) + 1);
}

interface RpcMsg {
  id?: unknown;
  result?: unknown;
  error?: { code?: unknown; message?: unknown; data?: { code?: unknown } | null };
}

/** Judges one JSON-RPC answer object for `method`: "ok", "documented", or why it is wrong. */
export function judgeRpc(msg: RpcMsg | undefined, method: string, s: GatewayStats): string | null {
  s.calls++;
  if (!msg || typeof msg !== "object") return `not a JSON-RPC object: ${excerpt(JSON.stringify(msg) ?? "undefined")}`;
  if (msg.error) {
    const bad = badUpstreamRpcError(msg.error);
    if (bad) return `${method}: ${bad}`;
    noteDocumented(s, `-32603 ${String(msg.error.data?.code)}`);
    return null;
  }
  if (!("result" in msg)) return `${method}: neither result nor error: ${excerpt(JSON.stringify(msg))}`;
  const check = RESULT_OK[method];
  if (check && !check(msg.result)) return `${method}: wrong result ${excerpt(JSON.stringify(msg.result))}`;
  s.ok++;
  return null;
}

/** A REST gateway route (GET /blocknumber, …): 200 with {result}, or 502/503/504 with a documented code. */
export function judgeRest(r: Answer | NoAnswer, method: string, s: GatewayStats): string | null {
  s.requests++;
  if (r.status === 0) return `no answer (${"error" in r ? r.error : ""})`;
  const text = "text" in r ? r.text : "";
  if (r.status === 200) return judgeRpc(parseJson(text) as RpcMsg, method, s);
  if (r.status >= 502 && r.status <= 504) {
    const why = undocumented5xx(r.status, text);
    if (why) return why;
    noteDocumented(s, `${r.status} ${(parseJson(text) as { code?: string })?.code ?? ""}`);
    return null;
  }
  return `status ${r.status}: ${excerpt(text)}`;
}

/** POST /eth, single or batch: every element judged; 200, or 502/503/504 when every call failed. */
export function judgeEth(r: Answer | NoAnswer, methods: string[], batch: boolean, s: GatewayStats): string | null {
  s.requests++;
  if (r.status === 0) return `no answer (${"error" in r ? r.error : ""})`;
  const text = "text" in r ? r.text : "";
  if (![200, 502, 503, 504].includes(r.status)) return `status ${r.status}: ${excerpt(text)}`;
  const why = undocumented5xx(r.status, text);
  if (why) return why;
  const body = parseJson(text);
  if (r.status !== 200 && body && !Array.isArray(body) && !("jsonrpc" in (body as object))) {
    noteDocumented(s, `${r.status} ${(body as { code?: string }).code}`);
    return null; // a REST-shaped documented error (e.g. 503 upstream_unavailable)
  }
  const items = (batch ? body : [body]) as RpcMsg[] | undefined;
  if (!Array.isArray(items) || items.length !== methods.length) return `expected ${methods.length} answers: ${excerpt(text)}`;
  for (let i = 0; i < items.length; i++) {
    const why = judgeRpc(items[i], methods[i]!, s);
    if (why) return why;
  }
  return null;
}

/** One request of a mixed gateway profile; returns a failure description or null. */
export async function gatewayRequest(url: string, rng: Rng, s: GatewayStats, blockRange = 8): Promise<string | null> {
  const kind = rng.weighted([
    [3, "blocknumber"],
    [2, "ws-blocknumber"],
    [1, "chainid"],
    [2, "eth"],
    [1, "blockbynumber"],
  ] as const);
  switch (kind) {
    case "blocknumber":
      return tag("GET /blocknumber", judgeRest(await http(`${url}/blocknumber`), "eth_blockNumber", s));
    case "ws-blocknumber":
      return tag("GET /ws/blocknumber", judgeRest(await http(`${url}/ws/blocknumber`), "eth_blockNumber", s));
    case "chainid":
      return tag("GET /eth_chainId", judgeRest(await http(`${url}/eth_chainId`), "eth_chainId", s));
    case "blockbynumber": {
      const block = rng.chance(0.5) ? "latest" : rng.int(0, blockRange);
      const r = await http(`${url}/blockbynumber`, { method: "POST", body: JSON.stringify({ block, txdetails: false }) });
      return tag(`POST /blockbynumber ${block}`, judgeRest(r, "eth_getBlockByNumber", s));
    }
    default: {
      const methods = rng.chance(0.4)
        ? ["eth_chainId", "eth_blockNumber", "eth_getBlockByNumber"]
        : [rng.pick(["eth_chainId", "eth_blockNumber", "eth_gasPrice"])];
      const calls = methods.map((m, i) => ({
        jsonrpc: "2.0",
        id: i + 1,
        method: m,
        params: m === "eth_getBlockByNumber" ? ["latest", false] : [],
      }));
      const batch = methods.length > 1;
      const r = await http(`${url}/eth`, { method: "POST", body: JSON.stringify(batch ? calls : calls[0]) });
      return tag(`POST /eth ${methods.join(",")}`, judgeEth(r, methods, batch, s));
    }
  }
}

const tag = (what: string, why: string | null) => (why ? `${what}: ${why}` : null);

/**
 * A client WebSocket at /eth or /socket2socket subscribed to newHeads, sending a call every
 * ~150 ms. Heads are time-stamped (recovery is measured on them); a close is counted and the
 * socket reopened; code 1011 (internal error) is a failure.
 */
export class HeadSubscriber {
  ws: WebSocket | null = null;
  lastHeadAt = 0;
  heads = 0;
  closes = new Map<number, number>();
  calls = 0;
  answered = 0;
  #pending = new Map<string, { method: string; at: number }>();
  #seq = 0;
  #stopped = false;
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    readonly url: string,
    readonly s: GatewayStats,
    readonly failures: Failures,
    readonly rng: Rng,
  ) {}

  start(): void {
    if (this.#stopped) return;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => this.#subscribe(ws);
    ws.onmessage = (ev) => this.#onMessage(ws, typeof ev.data === "string" ? ev.data : new TextDecoder().decode(ev.data as ArrayBuffer));
    ws.onerror = () => {};
    ws.onclose = (ev) => {
      if (this.#stopped) return;
      this.closes.set(ev.code, (this.closes.get(ev.code) ?? 0) + 1);
      if (ev.code === 1011)
        this.failures.add(`WebSocket ${this.url} closed by pexd with 1011 (internal error): ${ev.reason}`, "WebSocket closed 1011");
      this.#pending.clear(); // calls in flight on a closed socket have no answer to wait for
      if (this.ws === ws) this.ws = null;
      if (!this.#stopped) setTimeout(() => this.start(), 200);
    };
    this.#timer ??= setInterval(() => this.#call(), 150);
  }

  #subscribe(ws: WebSocket): void {
    if (ws.readyState === WebSocket.OPEN)
      ws.send(JSON.stringify({ jsonrpc: "2.0", id: `sub${this.#seq++}`, method: "eth_subscribe", params: ["newHeads"] }));
  }

  #call(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const method = this.rng.pick(["eth_chainId", "eth_blockNumber"]);
    const id = `c${this.#seq++}`;
    this.#pending.set(id, { method, at: performance.now() });
    this.calls++;
    ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params: [] }));
  }

  #onMessage(ws: WebSocket, text: string): void {
    const msg = parseJson(text) as (RpcMsg & { method?: string; params?: { result?: { number?: unknown } } }) | undefined;
    if (msg?.method === "eth_subscription") {
      if (typeof msg.params?.result?.number !== "string")
        this.failures.add(`newHeads notification without a block number: ${excerpt(text)}`, "newHeads malformed");
      this.heads++;
      this.lastHeadAt = performance.now();
      return;
    }
    const id = typeof msg?.id === "string" ? msg.id : "";
    if (id.startsWith("sub")) {
      if (msg?.error) {
        // Subscribing while the upstream is down may fail (documented); try again shortly.
        const why = badUpstreamRpcError(msg.error);
        if (why) this.failures.add(`eth_subscribe: ${why}`, "eth_subscribe answer");
        else setTimeout(() => this.#subscribe(ws), 300);
      } else if (typeof msg?.result !== "string") this.failures.add(`eth_subscribe answered ${excerpt(text)}`, "eth_subscribe answer");
      return;
    }
    const p = this.#pending.get(id);
    if (!p) {
      this.failures.add(`WebSocket answer to no call: ${excerpt(text)}`, "WebSocket answer");
      return;
    }
    this.#pending.delete(id);
    this.answered++;
    this.s.requests++;
    const why = judgeRpc(msg, p.method, this.s);
    if (why) this.failures.add(`WebSocket ${p.method}: ${why}`, "WebSocket answer");
  }

  /** Calls waiting longer than `ms` on a socket that is still open (no answer is a failure). */
  overdue(ms: number): number {
    const now = performance.now();
    return [...this.#pending.values()].filter((p) => now - p.at > ms).length;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.ws?.close();
  }
}

/** Mines a block every `ms` until stopped (errors while anvil is down are expected). */
export function miner(rpc: (m: string) => Promise<unknown>, ms: number): { stop(): void } {
  let on = true;
  void (async () => {
    while (on) {
      await rpc("evm_mine").catch(() => {});
      await sleep(ms);
    }
  })();
  return { stop: () => (on = false) };
}
