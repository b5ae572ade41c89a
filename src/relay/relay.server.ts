// The relay server role (SPEC §4): decodes netstring frames per TCP connection, logs each with its
// sender, and records it (first copy of a block wins). Limits keep one client from hurting others.
import type { Logger } from "../log.ts";
import type { FrameOutcome, RelayStore } from "../storage/relay.port.ts";
import { readBlockMeta } from "./block-doc.ts";
import { MAX_NETSTRING_BYTES, NetstringDecoder, NetstringError } from "./netstring.ts";
import type { TcpConnection, TcpServerHandler } from "./tcp.port.ts";

/** Open connections at most; a decoder holds at most one frame (≤ 1 MiB), so ≤ 256 MiB buffered. */
export const MAX_CONNECTIONS = 256;
/** Seconds a connection may stay silent before it is closed (a slow-loris cannot hold a slot). */
export const IDLE_TIMEOUT_S = 30;
/**
 * Payload bytes received but not yet committed: above the high mark every connection that delivers
 * a frame is paused (TCP flow control slows its sender) until the store is back under the low mark,
 * so reading faster than SQLite writes cannot grow memory without bound.
 */
export const PENDING_HIGH_BYTES = 32 * 1024 * 1024;
export const PENDING_LOW_BYTES = 8 * 1024 * 1024;

export interface RelayServerOptions {
  store: RelayStore;
  log: Logger;
  maxConnections?: number;
  maxFrameBytes?: number;
  /** ISO 8601 clock (tests). */
  isoNow?: () => string;
}

export interface RelayServerCounters {
  frames: number;
  bytes: number;
  stored: number;
  duplicates: number;
  rejected: number;
  /** Connections closed for a malformed or oversized frame. */
  protocolErrors: number;
  /** Connections refused at the connection cap. */
  refused: number;
  /** Frames whose store write failed. */
  storeErrors: number;
}

export class RelayServer implements TcpServerHandler {
  readonly #store: RelayStore;
  readonly #log: Logger;
  readonly #max: number;
  readonly #maxFrame: number;
  readonly #isoNow: () => string;
  readonly #conns = new Map<TcpConnection, NetstringDecoder>();
  readonly counters: RelayServerCounters = {
    frames: 0,
    bytes: 0,
    stored: 0,
    duplicates: 0,
    rejected: 0,
    protocolErrors: 0,
    refused: 0,
    storeErrors: 0,
  };
  #pending = new Set<Promise<unknown>>();
  #pendingBytes = 0;
  #paused = new Set<TcpConnection>();

  constructor(opts: RelayServerOptions) {
    this.#store = opts.store;
    this.#log = opts.log;
    this.#max = opts.maxConnections ?? MAX_CONNECTIONS;
    this.#maxFrame = opts.maxFrameBytes ?? MAX_NETSTRING_BYTES;
    this.#isoNow = opts.isoNow ?? (() => opts.log.isoNow());
  }

  /** Payload bytes received and not yet recorded (backpressure; metrics). */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Connections open now. */
  get connected(): number {
    return this.#conns.size;
  }

  open(conn: TcpConnection): void {
    if (this.#conns.size >= this.#max) {
      this.counters.refused++;
      this.#log.warn("relay connection refused: connection limit", { from: conn.remoteAddress, port: conn.remotePort, limit: this.#max });
      conn.close();
      return;
    }
    this.#conns.set(conn, new NetstringDecoder(this.#maxFrame));
  }

  data(conn: TcpConnection, chunk: Uint8Array): void {
    const decoder = this.#conns.get(conn);
    if (!decoder) return;
    try {
      decoder.push(chunk, (payload) => this.#frame(conn, payload));
    } catch (e) {
      this.#conns.delete(conn);
      this.counters.protocolErrors++;
      const reason = e instanceof NetstringError ? e.reason : "error";
      this.#log.warn("relay connection closed: bad frame", {
        from: conn.remoteAddress,
        port: conn.remotePort,
        reason,
        error: e instanceof Error ? e.message : String(e),
      });
      conn.close();
    }
  }

  idle(conn: TcpConnection): void {
    this.#log.info("relay connection closed: idle", { from: conn.remoteAddress, port: conn.remotePort });
  }

  close(conn: TcpConnection): void {
    const decoder = this.#conns.get(conn);
    this.#conns.delete(conn);
    this.#paused.delete(conn);
    if (decoder && !decoder.idle) {
      this.#log.warn("relay connection closed mid-frame", { from: conn.remoteAddress, port: conn.remotePort, buffered: decoder.buffered });
    }
  }

  #frame(conn: TcpConnection, payload: Uint8Array): void {
    const at = this.#isoNow();
    const meta = readBlockMeta(payload);
    this.counters.frames++;
    this.counters.bytes += payload.length;
    if (this.#log.enabled("info")) {
      // Built by hand: this line is written once per frame on the ingest hot path.
      this.#log.line(
        `{"time":"${at}","level":"info","msg":"relay frame","from":${JSON.stringify(conn.remoteAddress)},"port":${conn.remotePort},"bytes":${payload.length},"block":${meta ? meta.number : null}}`,
      );
    }
    const p = this.#store
      .record({
        address: conn.remoteAddress,
        bytes: payload.length,
        at,
        ...(meta ? { block: { number: meta.number, hash: meta.hash, html: payload } } : {}),
      })
      .then(
        (outcome: FrameOutcome) => {
          if (outcome === "stored") this.counters.stored++;
          else if (outcome === "duplicate") this.counters.duplicates++;
          else this.counters.rejected++;
        },
        (e: unknown) => {
          this.counters.storeErrors++;
          this.#log.error("relay frame not stored", {
            from: conn.remoteAddress,
            block: meta?.number ?? null,
            error: e instanceof Error ? e.message : String(e),
          });
        },
      );
    this.#pending.add(p);
    const size = payload.length;
    this.#pendingBytes += size;
    if (this.#pendingBytes > PENDING_HIGH_BYTES && !this.#paused.has(conn)) {
      this.#paused.add(conn);
      conn.pause();
    }
    p.finally(() => {
      this.#pending.delete(p);
      this.#pendingBytes -= size;
      if (this.#paused.size && this.#pendingBytes < PENDING_LOW_BYTES) {
        for (const c of this.#paused) if (this.#conns.has(c)) c.resume();
        this.#paused.clear();
      }
    });
  }

  /** Closes every connection and waits for frames already received to be recorded. */
  async drain(): Promise<void> {
    for (const c of [...this.#conns.keys()]) c.close();
    await Promise.allSettled([...this.#pending]);
  }
}
