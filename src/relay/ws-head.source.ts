// A HeadSource over a JSON-RPC WebSocket (eth_subscribe newHeads), reconnecting with backoff. The
// watcher also keeps a slow polling source running, so a dead socket delays blocks but never loses them.
import type { Upstream } from "../config.ts";
import type { Logger } from "../log.ts";
import type { HeadSource } from "./watcher.ts";

/** The WebSocket shape used here (Bun's and Deno's accept a non-standard `headers` option). */
export interface WebSocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(): void;
}
export type WebSocketCtor = new (url: string, opts?: { headers?: Record<string, string> }) => WebSocketLike;

export class WsHeadSource implements HeadSource {
  readonly #upstream: Upstream;
  readonly #Ws: WebSocketCtor;
  readonly #log: Logger;
  #cbs: ((n: bigint) => void)[] = [];
  #ws: WebSocketLike | null = null;
  #stopped = false;
  #backoff = 250;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(upstream: Upstream, Ws: WebSocketCtor, log: Logger) {
    this.#upstream = upstream;
    this.#Ws = Ws;
    this.#log = log;
  }

  onHead(cb: (n: bigint) => void): void {
    this.#cbs.push(cb);
  }

  async start(): Promise<void> {
    this.#connect();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#ws?.close();
  }

  #connect(): void {
    if (this.#stopped) return;
    const label = this.#upstream.label;
    let ws: WebSocketLike;
    try {
      ws = new this.#Ws(
        this.#upstream.url,
        this.#upstream.authorization ? { headers: { authorization: this.#upstream.authorization } } : undefined,
      );
    } catch {
      this.#retry();
      return;
    }
    this.#ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_subscribe", params: ["newHeads"] }));
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") return;
      let msg: { id?: number; result?: unknown; method?: string; params?: { result?: { number?: unknown } }; error?: { message?: string } };
      try {
        msg = JSON.parse(ev.data) as typeof msg;
      } catch {
        return;
      }
      if (msg.id === 1) {
        if (msg.error) {
          this.#log.warn("relay newHeads subscription refused; polling only", { upstream: label, error: msg.error.message ?? "error" });
          ws.close();
          return;
        }
        this.#backoff = 250;
        this.#log.info("relay head source: newHeads subscribed", { upstream: label });
        return;
      }
      const n = msg.method === "eth_subscription" ? msg.params?.result?.number : undefined;
      if (typeof n === "string" && /^0x[0-9a-fA-F]+$/.test(n)) for (const cb of this.#cbs) cb(BigInt(n));
    };
    ws.onerror = () => {};
    ws.onclose = () => {
      if (this.#ws === ws) this.#ws = null;
      if (!this.#stopped) {
        this.#log.warn("relay newHeads socket closed; reconnecting", { upstream: label, retry_ms: this.#backoff });
        this.#retry();
      }
    };
  }

  #retry(): void {
    this.#timer = setTimeout(() => this.#connect(), this.#backoff);
    this.#backoff = Math.min(this.#backoff * 2, 30_000);
  }
}

/** Several sources as one: heads from any of them (the watcher ignores numbers it already has). */
export function combineHeadSources(sources: HeadSource[]): HeadSource {
  return {
    onHead: (cb) => {
      for (const s of sources) s.onHead(cb);
    },
    start: async () => {
      await Promise.all(sources.map((s) => s.start()));
    },
    stop: () => {
      for (const s of sources) s.stop();
    },
  };
}
