// Shared pieces of the torture campaign (scripts/torture.ts): the seeded PRNG every random choice
// goes through, the cleanup registry (processes and temp dirs die with the campaign, Ctrl-C
// included), small HTTP/TCP clients that never throw on a bad answer, and the rules that say which
// server errors pexd documents.
import { connect, type Socket } from "node:net";
import { rmSync } from "node:fs";
import { startPexd, type Pexd } from "../../test/helpers/pexd.ts";

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/** mulberry32: tiny, fast, and good enough to drive a fuzzer reproducibly. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi] (both included). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from an empty list");
    return items[Math.floor(this.next() * items.length)]!;
  }
  /** Picks by weight: [[weight, value], …]. */
  weighted<const A extends readonly (readonly [number, unknown])[]>(items: A): A[number][1] {
    const total = items.reduce((a, [w]) => a + w, 0);
    let x = this.next() * total;
    for (const [w, v] of items) {
      if ((x -= w) < 0) return v;
    }
    return items[items.length - 1]![1];
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = (this.next() * 256) | 0;
    return out;
  }
  /** A child generator: independent stream, still a function of this one's seed. */
  fork(label: string): Rng {
    return new Rng(hashSeed(this.int(0, 0xffffffff), label));
  }
}

/** FNV-1a of the label mixed into the seed: each scenario gets its own stream, so `--only x` replays x. */
export function hashSeed(seed: number, label: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Cleanup: every process and directory the campaign creates is registered here.

const cleanups = new Map<number, () => Promise<void> | void>();
let nextCleanup = 0;
let aborting = false;
let spawning = 0;

/** Registers fn to run at exit (normal, failure or Ctrl-C); the returned function runs it now, once. */
export function onCleanup(fn: () => Promise<void> | void): () => Promise<void> {
  const id = nextCleanup++;
  cleanups.set(id, fn);
  return async () => {
    if (!cleanups.delete(id)) return;
    await fn();
  };
}

export async function runCleanups(): Promise<void> {
  // A cleanup may let a scenario go on and register more (it sees its process die): loop until none is left.
  while (cleanups.size > 0) {
    const all = [...cleanups.entries()].reverse();
    cleanups.clear();
    for (const [, fn] of all) {
      try {
        await fn();
      } catch {
        /* best effort: keep cleaning */
      }
    }
  }
}

/**
 * Ctrl-C: no new pexd starts from now on, the ones starting are waited for (so they are registered),
 * then everything registered is cleaned up.
 */
export async function abortAndClean(): Promise<void> {
  aborting = true;
  const until = performance.now() + 35_000;
  while (spawning > 0 && performance.now() < until) await sleep(50);
  await runCleanups();
}

export function removeDirLater(dir: string): () => Promise<void> {
  return onCleanup(() => rmSync(dir, { recursive: true, force: true }));
}

/** startPexd, registered for cleanup; dispose() also unregisters. Refused once the campaign is aborting. */
export async function spawnPexd(opts: Parameters<typeof startPexd>[0]): Promise<Pexd> {
  if (aborting) throw new Error("aborted");
  spawning++;
  let p: Pexd;
  try {
    // TORTURE_RUN marks the processes of this campaign (pexd ignores it): a leak is easy to find.
    p = await startPexd({ ...opts, env: { ...opts?.env, TORTURE_RUN: String(process.pid) } });
  } finally {
    spawning--;
  }
  const undo = onCleanup(() => p.dispose());
  const dispose = p.dispose;
  p.dispose = async () => {
    await undo();
    await dispose();
  };
  return p;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

export const sleep = (ms: number) => Bun.sleep(ms);

// ---------------------------------------------------------------------------------------------
// HTTP: answers as data, never exceptions

export interface Answer {
  status: number;
  text: string;
  headers: Headers;
  ms: number;
}
export interface NoAnswer {
  status: 0;
  error: string;
  text: "";
  ms: number;
}

export async function http(
  url: string,
  init: { method?: string; body?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Answer | NoAnswer> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, {
      method: init.method ?? "GET",
      headers: init.body !== undefined ? { "content-type": "application/json", ...init.headers } : init.headers,
      body: init.body,
      signal: AbortSignal.timeout(init.timeoutMs ?? 15_000),
    });
    const text = await res.text();
    return { status: res.status, text, headers: res.headers, ms: performance.now() - t0 };
  } catch (e) {
    return { status: 0, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e), text: "", ms: performance.now() - t0 };
  }
}

export const postJson = (url: string, body: unknown, timeoutMs?: number) =>
  http(url, { method: "POST", body: JSON.stringify(body), ...(timeoutMs ? { timeoutMs } : {}) });

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export const excerpt = (s: string, n = 160) => {
  const one = s.replace(/\s+/g, " ");
  return one.length > n ? `${one.slice(0, n)}…(${s.length} chars)` : one;
};

/** Polls GET /health until 200; resolves with the time it took, or throws. */
export async function waitHealthy(url: string, timeoutMs = 15_000): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    const r = await http(`${url}/health`, { timeoutMs: 2000 });
    if (r.status === 200) return performance.now() - t0;
    await sleep(20);
  }
  throw new Error(`GET /health did not answer 200 within ${timeoutMs} ms`);
}

// ---------------------------------------------------------------------------------------------
// The server errors pexd documents (anything else ≥ 500 is a bug)

export const DOCUMENTED_5XX: Record<number, readonly string[]> = {
  502: ["upstream_error"],
  503: ["upstream_unavailable", "upstream_not_configured", "storage_unavailable", "not_ready", "too_many_streams"],
  504: ["upstream_timeout"],
  507: ["storage_full"],
};
export const UPSTREAM_RPC_CODES = ["upstream_error", "upstream_timeout", "upstream_unavailable"];
/** JSON-RPC error codes pexd itself produces. */
export const PEXD_RPC_CODES = [-32700, -32600, -32601, -32602, -32603, -32005];

interface RpcError {
  code?: unknown;
  message?: unknown;
  data?: { code?: unknown } | null;
}

/** null when the JSON-RPC error is an allowed upstream-failure answer (-32603 + documented data.code). */
export function badUpstreamRpcError(err: RpcError): string | null {
  if (err.code === -32603 && typeof err.data?.code === "string" && UPSTREAM_RPC_CODES.includes(err.data.code)) return null;
  return `JSON-RPC error ${JSON.stringify(err).slice(0, 200)}`;
}

/**
 * Why a status ≥ 500 is not documented, or null when it is (or the status is < 500). A JSON-RPC
 * body (POST /eth) is judged by its error objects: -32603 with a documented data.code.
 */
export function undocumented5xx(status: number, text: string): string | null {
  if (status < 500) return null;
  const allowed = DOCUMENTED_5XX[status];
  if (!allowed) return `status ${status} is not a documented server error`;
  const body = parseJson(text);
  if (Array.isArray(body) || (body && typeof body === "object" && "jsonrpc" in body)) {
    const items = (Array.isArray(body) ? body : [body]) as { error?: RpcError }[];
    for (const it of items) {
      if (!it?.error) continue;
      if (it.error.code === -32005) continue;
      const bad = badUpstreamRpcError(it.error);
      if (bad) return `${status} with ${bad}`;
    }
    return null;
  }
  const code = (body as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && allowed.includes(code)) return null;
  return `${status} with code ${JSON.stringify(code ?? null)} (documented: ${allowed.join(", ")})`;
}

// ---------------------------------------------------------------------------------------------
// Netstrings over TCP (the relay port)

const enc = new TextEncoder();
const dec = new TextDecoder();

export function netstring(payload: string | Uint8Array): Uint8Array {
  const b = typeof payload === "string" ? enc.encode(payload) : payload;
  const head = enc.encode(`${b.length}:`);
  const out = new Uint8Array(head.length + b.length + 1);
  out.set(head);
  out.set(b, head.length);
  out[out.length - 1] = 0x2c;
  return out;
}

/** Decodes as many complete netstrings as `buf` holds; `rest` is what is left (or junk). */
export function decodeNetstrings(buf: Uint8Array): { frames: string[]; rest: Uint8Array; malformed: boolean } {
  const frames: string[] = [];
  let i = 0;
  while (i < buf.length) {
    let j = i;
    while (j < buf.length && buf[j]! >= 0x30 && buf[j]! <= 0x39) j++;
    if (j === buf.length) break;
    if (buf[j] !== 0x3a || j === i) return { frames, rest: buf.subarray(i), malformed: true };
    const len = Number(dec.decode(buf.subarray(i, j)));
    if (j + 1 + len + 1 > buf.length) break;
    if (buf[j + 1 + len] !== 0x2c) return { frames, rest: buf.subarray(i), malformed: true };
    frames.push(dec.decode(buf.subarray(j + 1, j + 1 + len)));
    i = j + 1 + len + 1;
  }
  return { frames, rest: buf.subarray(i), malformed: false };
}

export function blockDoc(n: number | string, body: string, hash = `0x${Number(n).toString(16).padStart(64, "0")}`): string {
  return `<!doctype html><html><head><meta name="block-number" content="${n}"><meta name="block-hash" content="${hash}"><title>Block ${n}</title></head><body>${body}</body></html>`;
}

/**
 * One relay connection that pipelines frames: each send() resolves with that frame's answer (in
 * order), or null when the connection closed first (the outcome is then unknown).
 */
export class RelayConn {
  readonly #sock: Socket;
  #buf: Uint8Array = new Uint8Array(0);
  #waiting: ((a: string | null) => void)[] = [];
  #closed = false;
  /** Answers that arrived with nobody waiting (e.g. `busy` on connect). */
  readonly unsolicited: string[] = [];
  readonly opened: Promise<boolean>;
  readonly closed: Promise<void>;

  constructor(port: number, localAddress?: string) {
    this.#sock = connect({ host: "127.0.0.1", port, ...(localAddress ? { localAddress } : {}), noDelay: true });
    this.opened = new Promise((r) => {
      this.#sock.once("connect", () => r(true));
      this.#sock.once("error", () => r(false));
    });
    this.closed = new Promise((r) => this.#sock.once("close", () => r()));
    this.#sock.on("error", () => {});
    this.#sock.on("data", (chunk: Buffer) => this.#onData(chunk));
    this.#sock.on("close", () => {
      this.#closed = true;
      for (const w of this.#waiting.splice(0)) w(null);
    });
  }

  get isClosed(): boolean {
    return this.#closed;
  }
  get inFlight(): number {
    return this.#waiting.length;
  }

  #onData(chunk: Buffer): void {
    const merged = new Uint8Array(this.#buf.length + chunk.length);
    merged.set(this.#buf);
    merged.set(chunk, this.#buf.length);
    const { frames, rest, malformed } = decodeNetstrings(merged);
    this.#buf = malformed ? new Uint8Array(0) : new Uint8Array(rest);
    for (const f of frames) {
      const w = this.#waiting.shift();
      if (w) w(f);
      else this.unsolicited.push(f);
    }
    if (malformed) {
      this.unsolicited.push(`<malformed answer bytes>`);
      this.#sock.destroy();
    }
  }

  send(payload: string | Uint8Array): Promise<string | null> {
    if (this.#closed) return Promise.resolve(null);
    const p = new Promise<string | null>((r) => this.#waiting.push(r));
    this.#sock.write(netstring(payload));
    return p;
  }

  /** Writes raw bytes (no framing, no answer expected). */
  writeRaw(bytes: Uint8Array | string): void {
    if (!this.#closed) this.#sock.write(bytes);
  }

  destroy(): void {
    this.#sock.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Stats

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
export const fmtMs = (ms: number) => (Number.isFinite(ms) ? `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms` : "n/a");

/** A fixed-rate pacer for one worker: each call waits for the next slot of `perSecond` (no catch-up bursts). */
export function pacer(perSecond: number): () => Promise<void> {
  const interval = 1000 / perSecond;
  let next = performance.now();
  return async () => {
    const now = performance.now();
    if (next > now) await sleep(next - now);
    next = Math.max(next, now) + interval;
  };
}

/** Runs fn over items with at most `limit` at a time. */
export async function pool<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}

// ---------------------------------------------------------------------------------------------
// Results

export interface ScenarioResult {
  name: string;
  /** What was tried (counts). */
  tried: string;
  /** What was lost / failed (counts). */
  failed: string;
  /** Key measurements. */
  measured: string;
  pass: boolean;
  /** Failing cases with enough detail to reproduce them. */
  details: string[];
  seconds: number;
}

/**
 * Collects failure details, keeping at most `perCategory` examples of each category (the counts stay
 * exact), so one frequent failure does not hide the others in the report.
 */
export class Failures {
  count = 0;
  readonly byCategory = new Map<string, { count: number; examples: string[] }>();
  constructor(readonly perCategory = 5) {}
  add(detail: string, category = "failure"): void {
    this.count++;
    const c = this.byCategory.get(category) ?? { count: 0, examples: [] };
    c.count++;
    if (c.examples.length < this.perCategory) c.examples.push(detail);
    this.byCategory.set(category, c);
  }
  /** "category ×n; …" */
  summary(): string {
    return [...this.byCategory].map(([k, v]) => `${k} ×${v.count}`).join("; ");
  }
  get items(): string[] {
    return [...this.byCategory].flatMap(([k, v]) => v.examples.map((e) => `[${k} ×${v.count}] ${e}`));
  }
}

export interface Ctx {
  short: boolean;
  seed: number;
  log: (msg: string) => void;
  /** performance.now() by which the whole campaign must be done (full mode's 10-minute bound). */
  budgetEndsAt: number;
}
