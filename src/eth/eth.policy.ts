// Method policy and cache classes: which methods pass, and how long an answer stays true
// (forever, until the next head, until final, or never). See docs/ethereum.md, "Cache policy", for the table.

/** Namespaces that reach the upstream; everything else is -32601 (admin_, debug_, personal_, miner_, …). */
const ALLOWED = /^(?:eth|net|web3)_[A-Za-z0-9_]+$/;

export function methodAllowed(method: string): boolean {
  return ALLOWED.test(method);
}

const glob = (pattern: string) => new RegExp(`^${pattern.replace(/[^A-Za-z0-9_*]/g, "").replaceAll("*", ".*")}$`);

/** Methods by which the node would sign with keys of its own (an unlocked account). */
const NODE_SIGNING = /^(?:eth_sendTransaction|eth_sign|eth_signTransaction|eth_signTypedData.*)$/;

/**
 * Which methods reach the upstream (docs/security.md): the deny list (PEXD_ETH_METHODS_DENY, by default the
 * methods that make the node sign with its own keys) always wins; then, when PEXD_ETH_METHODS_ALLOW
 * is set, only its methods pass; otherwise the eth_, net_ and web3_ namespaces do.
 */
export class MethodPolicy {
  readonly #deny: { text: string; re: RegExp }[];
  readonly #allow: RegExp[] | null;
  /** Decisions by method name: a small closed set in practice, bounded anyway. */
  readonly #memo = new Map<string, string | null>();

  constructor(opts: { deny: readonly string[]; allow?: readonly string[] | undefined }) {
    this.#deny = opts.deny.map((text) => ({ text, re: glob(text) }));
    this.#allow = opts.allow ? opts.allow.map(glob) : null;
  }

  /** Why `method` is refused (the message of its -32601), or null when it passes. */
  refusal(method: string): string | null {
    let r = this.#memo.get(method);
    if (r === undefined) {
      r = this.#decide(method);
      if (this.#memo.size < 4096) this.#memo.set(method, r);
    }
    return r;
  }

  #decide(method: string): string | null {
    const denied = this.#deny.find((d) => d.re.test(method));
    if (denied) {
      const why = NODE_SIGNING.test(method)
        ? ": it would make the node sign with keys of its own; sign on the client and send eth_sendRawTransaction"
        : "";
      return `method ${method} is refused by this gateway (PEXD_ETH_METHODS_DENY: ${denied.text})${why}`;
    }
    if (this.#allow) {
      return this.#allow.some((re) => re.test(method)) ? null : `method ${method} is not in this gateway's PEXD_ETH_METHODS_ALLOW`;
    }
    return methodAllowed(method) ? null : `method ${method} is not available through this gateway (only eth_*, net_*, web3_*)`;
  }
}

/**
 * forever: chain constants and pure functions. head: true until the head moves (TTL, dropped on a
 * new head). block: true forever once its block is final, else like head. hash: addressed by a block
 * hash, so immutable once non-null. tx: a transaction/receipt by hash: immutable once its block is
 * final (a reorg can move it to another block before that). never: stateful or pending-dependent,
 * passed through without caching or coalescing. write: never cached or coalesced, never retried.
 */
export type CacheClass =
  | { kind: "forever" }
  | { kind: "head" }
  | { kind: "block"; number: bigint }
  | { kind: "hash" }
  | { kind: "tx" }
  | { kind: "never" }
  | { kind: "write" };

const FOREVER = { kind: "forever" } as const;
const HEAD = { kind: "head" } as const;
const HASH = { kind: "hash" } as const;
const TX = { kind: "tx" } as const;
const NEVER = { kind: "never" } as const;
const WRITE = { kind: "write" } as const;

export const WRITE_METHODS: ReadonlySet<string> = new Set([
  "eth_sendRawTransaction",
  "eth_sendTransaction",
  "eth_sendRawTransactionSync",
  "eth_sendRawTransactionConditional",
  "eth_sign",
  "eth_signTransaction",
  "eth_signTypedData",
  "eth_signTypedData_v3",
  "eth_signTypedData_v4",
  "eth_submitWork",
  "eth_submitHashrate",
]);

export function isWrite(method: string): boolean {
  return WRITE_METHODS.has(method);
}

const CONSTANT = new Set(["eth_chainId", "net_version", "web3_sha3"]);
const HEAD_ONLY = new Set([
  "eth_blockNumber",
  "eth_gasPrice",
  "eth_maxPriorityFeePerGas",
  "eth_blobBaseFee",
  "eth_syncing",
  "eth_coinbase",
  "eth_accounts",
  "eth_hashrate",
  "eth_mining",
  "eth_protocolVersion",
  "net_listening",
  "net_peerCount",
  "web3_clientVersion",
]);
const BY_BLOCK_HASH = new Set([
  "eth_getBlockByHash",
  "eth_getBlockTransactionCountByHash",
  "eth_getTransactionByBlockHashAndIndex",
  "eth_getUncleByBlockHashAndIndex",
  "eth_getUncleCountByBlockHash",
]);
const BY_TX_HASH = new Set(["eth_getTransactionByHash", "eth_getTransactionReceipt"]);
/** Method → index of its block parameter (tag, quantity or EIP-1898 object). */
const BLOCK_PARAM: ReadonlyMap<string, number> = new Map([
  ["eth_getBlockByNumber", 0],
  ["eth_getBlockTransactionCountByNumber", 0],
  ["eth_getTransactionByBlockNumberAndIndex", 0],
  ["eth_getUncleByBlockNumberAndIndex", 0],
  ["eth_getUncleCountByBlockNumber", 0],
  ["eth_getBlockReceipts", 0],
  ["eth_getBalance", 1],
  ["eth_getCode", 1],
  ["eth_getTransactionCount", 1],
  ["eth_call", 1],
  ["eth_estimateGas", 1],
  ["eth_createAccessList", 1],
  ["eth_feeHistory", 1],
  ["eth_getStorageAt", 2],
  ["eth_getProof", 2],
]);

const HEX_QUANTITY = /^0x[0-9a-fA-F]{1,64}$/;
const HASH32 = /^0x[0-9a-fA-F]{64}$/;

/** Cache class of one block selector; a missing selector means "latest". */
function blockClass(sel: unknown): CacheClass {
  if (sel === undefined || sel === "latest" || sel === "safe" || sel === "finalized") return HEAD;
  if (sel === "earliest") return { kind: "block", number: 0n };
  if (typeof sel === "string") {
    if (HASH32.test(sel)) return HASH; // eth_getBlockReceipts also takes a block hash
    if (HEX_QUANTITY.test(sel)) return { kind: "block", number: BigInt(sel) };
    return NEVER; // "pending" and anything the upstream will judge
  }
  if (sel !== null && typeof sel === "object") {
    // EIP-1898: {blockHash} or {blockNumber}
    const o = sel as { blockHash?: unknown; blockNumber?: unknown };
    if (typeof o.blockHash === "string") return HASH;
    if (o.blockNumber !== undefined) return blockClass(o.blockNumber);
  }
  return NEVER;
}

function logsClass(filter: unknown): CacheClass {
  if (filter === null || typeof filter !== "object") return NEVER;
  const f = filter as { blockHash?: unknown; fromBlock?: unknown; toBlock?: unknown };
  if (typeof f.blockHash === "string") return HASH;
  const from = blockClass(f.fromBlock);
  const to = blockClass(f.toBlock);
  if (from.kind === "never" || to.kind === "never") return NEVER;
  // The range is final only when its upper end is; an open end ("latest") follows the head.
  if (to.kind === "block") return to;
  return HEAD;
}

export function classify(method: string, params: unknown[] | Record<string, unknown> | undefined): CacheClass {
  if (WRITE_METHODS.has(method)) return WRITE;
  if (CONSTANT.has(method)) return FOREVER;
  if (HEAD_ONLY.has(method)) return HEAD;
  const p = Array.isArray(params) ? params : [];
  if (BY_BLOCK_HASH.has(method)) return HASH;
  if (BY_TX_HASH.has(method)) return TX;
  if (method === "eth_getLogs") return logsClass(p[0]);
  const at = BLOCK_PARAM.get(method);
  if (at !== undefined) return blockClass(p[at]);
  // Filters, subscriptions and unknown methods: stateful or unknown, so passed through as they are.
  return NEVER;
}

/** Cache key: method plus params with hex lower-cased and object keys sorted (same meaning → same key). */
export function cacheKey(method: string, params: unknown): string {
  if (params === undefined || (Array.isArray(params) && params.length === 0)) return method;
  return `${method}:${JSON.stringify(canonical(params))}`;
}

function canonical(v: unknown): unknown {
  if (typeof v === "string") return v.startsWith("0x") || v.startsWith("0X") ? v.toLowerCase() : v;
  if (Array.isArray(v)) return v.map(canonical);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = canonical((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}
