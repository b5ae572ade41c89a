// EthGateway: the method policy, the finality-aware cache, coalescing of identical in-flight reads
// and head learning, over any RpcTransport (HTTP here; the WebSocket half passes its own via `via`).
import { DEFAULT_METHODS_DENY } from "../config.ts";
import { ResponseCache, type SharedCache } from "./eth.cache.ts";
import { cacheKey, classify, MethodPolicy, type CacheClass } from "./eth.policy.ts";
import { METHOD_NOT_FOUND, RpcFault } from "./jsonrpc.ts";
import type { JsonRpcError, JsonRpcId, JsonRpcRequest, JsonRpcResponse, RpcTransport } from "./transport.ts";

export type CacheStatus = "HIT" | "MISS" | "COALESCED";

export interface GatewayOptions {
  transport: RpcTransport;
  cacheTtlMs: number;
  cacheMaxBytes: number;
  finalityDepth: number;
  /** Which methods pass (default: docs/security.md's deny list and the eth_/net_/web3_ namespaces). */
  policy?: MethodPolicy;
  /** A second-level cache shared with other instances (Redis), read after a miss here. */
  shared?: SharedCache | undefined;
  now?: () => number;
}

/** What one upstream call (or the shared cache) produced, shared by every caller that joined it. */
type Outcome = { raw: string; error?: undefined; shared?: boolean } | { raw?: undefined; error: JsonRpcError; shared?: undefined };

/** One caller's answer: its own id, the shared result, and how it was served. */
export class Answer {
  #response: JsonRpcResponse | undefined;
  constructor(
    readonly id: JsonRpcId,
    readonly cache: CacheStatus,
    readonly outcome: Outcome,
  ) {}
  get response(): JsonRpcResponse {
    return (this.#response ??= this.outcome.error
      ? { jsonrpc: "2.0", id: this.id, error: this.outcome.error }
      : { jsonrpc: "2.0", id: this.id, result: JSON.parse(this.outcome.raw) as unknown });
  }
  /** The serialized response, built around the cached result text without re-stringifying it. */
  text(): string {
    if (this.outcome.error) return JSON.stringify(this.response);
    return `{"jsonrpc":"2.0","id":${JSON.stringify(this.id)},"result":${this.outcome.raw}}`;
  }
}

export interface GatewayStats {
  hits: number;
  /** Answered from the cache shared with other instances. */
  sharedHits: number;
  misses: number;
  coalesced: number;
  evictions: number;
  bytes: number;
  entries: number;
  head: bigint | undefined;
  /** ms timestamp (the gateway's clock) of the last head change; 0 before the first. */
  headChangedAt: number;
}

export class EthGateway {
  readonly transport: RpcTransport;
  readonly cache: ResponseCache;
  readonly policy: MethodPolicy;
  #ttlMs: number;
  #depth: bigint;
  #now: () => number;
  #inflight = new Map<string, Promise<Outcome>>();
  /** Coalescing is per transport: a key for each transport other than the default one. */
  #transportKeys = new Map<RpcTransport, string>();
  #head: bigint | undefined;
  /** Bumped on every head change: a head-dependent answer that raced a head change is not stored. */
  #headGen = 0;
  #headChangedAt = 0;
  #hits = 0;
  #misses = 0;
  #coalesced = 0;
  #sharedHits = 0;
  readonly #shared: SharedCache | undefined;

  constructor(opts: GatewayOptions) {
    this.transport = opts.transport;
    this.cache = new ResponseCache(opts.cacheMaxBytes);
    this.policy = opts.policy ?? new MethodPolicy({ deny: DEFAULT_METHODS_DENY.split(",") });
    this.#shared = opts.shared;
    this.#ttlMs = opts.cacheTtlMs;
    this.#depth = BigInt(opts.finalityDepth);
    this.#now = opts.now ?? Date.now;
  }

  get head(): bigint | undefined {
    return this.#head;
  }

  stats(): GatewayStats {
    return {
      hits: this.#hits,
      sharedHits: this.#sharedHits,
      misses: this.#misses,
      coalesced: this.#coalesced,
      evictions: this.cache.evictions,
      bytes: this.cache.bytes,
      entries: this.cache.size,
      head: this.#head,
      headChangedAt: this.#headChangedAt,
    };
  }

  /** The head tracker's hook (newHeads): everything head-dependent is dropped at once. */
  onNewHead(n: bigint | number): void {
    this.#setHead(BigInt(n));
  }

  /** The -32601 error when the method policy refuses `method`, else null. */
  refusal(method: string): JsonRpcError | null {
    const why = this.policy.refusal(method);
    return why === null ? null : { code: METHOD_NOT_FOUND, message: why };
  }

  /** Throws the policy's refusal as an RpcFault (calls that do not go through handle(), e.g. eth_subscribe). */
  assertAllowed(method: string): void {
    const refused = this.refusal(method);
    if (refused) throw RpcFault.fromError(refused);
  }

  /** The cached answer for a cache key, synchronously (the hot path of the REST routes), or undefined. */
  peek(key: string, id: JsonRpcId): Answer | undefined {
    const e = this.cache.get(key, this.#now());
    if (e === undefined) return undefined;
    this.#hits++;
    return new Answer(id, "HIT", { raw: e.raw });
  }

  /** A request's cached answer, synchronously, when the method policy lets it through; else undefined. */
  cached(req: JsonRpcRequest): Answer | undefined {
    if (this.policy.refusal(req.method) !== null) return undefined;
    return this.peek(cacheKey(req.method, req.params), req.id ?? null);
  }

  /**
   * Answers one request (with its id, or null for a notification) through policy, cache and
   * coalescing. Transport failures are thrown as UpstreamError; upstream JSON-RPC errors are
   * answered unchanged. `via` selects the transport (default: the gateway's).
   */
  async handle(req: JsonRpcRequest, via: RpcTransport = this.transport): Promise<Answer> {
    const id = req.id ?? null;
    const { method, params } = req;
    const refused = this.refusal(method);
    if (refused) {
      this.#misses++;
      return new Answer(id, "MISS", { error: refused });
    }
    const cls = classify(method, params);
    if (cls.kind === "write" || cls.kind === "never") {
      this.#misses++;
      const outcome = toOutcome(await via.call(method, params));
      // A write changes state (nonce, balances): head-dependent answers may now be stale.
      if (cls.kind === "write" && !outcome.error) this.cache.dropHeadDependent();
      return new Answer(id, "MISS", outcome);
    }
    const key = cacheKey(method, params);
    const hit = this.peek(key, id);
    if (hit) return hit;
    const flightKey = via === this.transport ? key : `${this.#transportKey(via)}|${key}`;
    const shared = this.#inflight.get(flightKey);
    if (shared) {
      this.#coalesced++;
      return new Answer(id, "COALESCED", await shared);
    }
    const flight = this.#fetch(via, method, params, key, cls);
    this.#inflight.set(flightKey, flight);
    try {
      const outcome = await flight;
      if (outcome.shared) this.#sharedHits++;
      else this.#misses++;
      return new Answer(id, outcome.shared ? "HIT" : "MISS", outcome);
    } finally {
      this.#inflight.delete(flightKey);
    }
  }

  /**
   * Keys of the shared cache: an immutable answer under `f:<key>`; a head-dependent one under
   * `h:<head>:<key>`, so a new head leaves every instance's old entries unreachable at once.
   */
  #sharedKeys(cls: CacheClass, key: string): string[] {
    const atHead = this.#head === undefined ? [] : [`h:${this.#head}:${key}`];
    switch (cls.kind) {
      case "forever":
      case "hash":
        return [`f:${key}`];
      case "block":
        return this.#final(cls.number) ? [`f:${key}`] : atHead;
      case "tx":
        return [`f:${key}`, ...atHead];
      default:
        return atHead;
    }
  }

  /** The other instances' answer, if one is in the shared cache; kept here too, with its lifetime. */
  async #fromShared(cls: CacheClass, key: string): Promise<Outcome | null> {
    const gen = this.#headGen;
    for (const k of this.#sharedKeys(cls, key)) {
      const raw = await this.#shared!.get(k);
      if (raw === null) continue;
      if (k.startsWith("f:")) this.cache.set(key, raw, Infinity, false);
      else if (this.#ttlMs > 0 && this.#headGen === gen) this.cache.set(key, raw, this.#now() + this.#ttlMs, true);
      return { raw, shared: true };
    }
    return null;
  }

  async #fetch(via: RpcTransport, method: string, params: JsonRpcRequest["params"], key: string, cls: CacheClass): Promise<Outcome> {
    // A by-number read can only be called final against a known head: learn it once (cached).
    if (cls.kind === "block" && this.#head === undefined) {
      await this.handle({ jsonrpc: "2.0", id: null, method: "eth_blockNumber" }, via).catch(() => undefined);
    }
    if (this.#shared) {
      const hit = await this.#fromShared(cls, key);
      if (hit) return hit;
    }
    const gen = this.#headGen;
    const res = await via.call(method, params);
    const outcome = toOutcome(res);
    if (outcome.error) return outcome; // errors are not cached
    const result = res.result;
    const raced = this.#headGen !== gen;
    this.#learn(method, params, result);
    // Null is "not found yet" (a pending receipt, a future block): never cached.
    if (result === null || result === undefined) return outcome;
    const lifetime = this.#lifetime(cls, result);
    if (lifetime === "forever") {
      this.cache.set(key, outcome.raw, Infinity, false);
      // Awaited (it never throws): once this instance answered, the others find it too.
      await this.#shared?.set(`f:${key}`, outcome.raw, null);
    } else if (lifetime === "head" && this.#ttlMs > 0 && (!raced || method === "eth_blockNumber")) {
      this.cache.set(key, outcome.raw, this.#now() + this.#ttlMs, true);
      if (this.#head !== undefined && !raced) await this.#shared?.set(`h:${this.#head}:${key}`, outcome.raw, this.#ttlMs);
    }
    return outcome;
  }

  #final(n: bigint): boolean {
    return this.#head !== undefined && n + this.#depth <= this.#head;
  }

  #lifetime(cls: CacheClass, result: unknown): "forever" | "head" {
    switch (cls.kind) {
      case "forever":
      case "hash":
        return "forever";
      case "block":
        return this.#final(cls.number) ? "forever" : "head";
      case "tx": {
        // A mined transaction can still move to another block in a reorg until its block is final.
        const bn = (result as { blockNumber?: unknown }).blockNumber;
        return typeof bn === "string" && bn.startsWith("0x") && this.#final(BigInt(bn)) ? "forever" : "head";
      }
      default:
        return "head";
    }
  }

  /** The head from answers: eth_blockNumber is authoritative; a block we were shown raises it. */
  #learn(method: string, params: JsonRpcRequest["params"], result: unknown): void {
    if (method === "eth_blockNumber" && typeof result === "string" && result.startsWith("0x")) {
      this.#setHead(BigInt(result));
    } else if (method === "eth_getBlockByNumber" && result !== null && typeof result === "object") {
      const n = (result as { number?: unknown }).number;
      if (typeof n === "string" && n.startsWith("0x")) {
        const bn = BigInt(n);
        const tag = Array.isArray(params) ? params[0] : undefined;
        if (this.#head === undefined || bn > this.#head || (tag === "latest" && bn !== this.#head)) this.#setHead(bn);
      }
    }
  }

  #transportKey(t: RpcTransport): string {
    let k = this.#transportKeys.get(t);
    if (k === undefined) this.#transportKeys.set(t, (k = String(this.#transportKeys.size + 1)));
    return k;
  }

  #setHead(n: bigint): void {
    if (n === this.#head) return;
    this.#head = n;
    this.#headGen++;
    this.#headChangedAt = this.#now();
    this.cache.dropHeadDependent();
  }
}

function toOutcome(res: JsonRpcResponse): Outcome {
  if (res.error) return { error: res.error };
  // JSON.stringify(undefined) is undefined: a response without result is answered as null.
  return { raw: JSON.stringify(res.result ?? null) };
}
