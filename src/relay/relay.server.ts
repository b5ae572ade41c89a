// The relay server role (docs/relay.md): decodes netstring frames per TCP connection, logs each with its
// sender, records it (first copy of a block wins) and answers each frame, in order, once its outcome
// is committed: `stored`, `duplicate` or `rejected` (`error` if the commit failed). Limits keep one
// client from hurting others: connections in all and per address (an idle one makes room for a new
// one; otherwise the newcomer gets `busy`), an idle timeout, a frame bound, and a bound on what is
// read but not yet committed.
import type { Logger } from "../log.ts";
import type { FrameOutcome, RelayStore } from "../storage/relay.port.ts";
import { readBlockMeta } from "./block-doc.ts";
import { encodeNetstring, MAX_NETSTRING_BYTES, NetstringDecoder, NetstringError } from "./netstring.ts";
import type { TcpConnection, TcpServerHandler } from "./tcp.port.ts";

/** Open connections at most; a decoder holds at most one frame (≤ 1 MiB), so ≤ 256 MiB buffered. */
export const MAX_CONNECTIONS = 256;
/** Open connections per client address at most (PEXD_RELAY_MAX_CONNECTIONS_PER_IP). */
export const MAX_CONNECTIONS_PER_IP = 32;
/** Seconds a connection may stay silent before it is closed (a slow-loris cannot hold a slot). */
export const IDLE_TIMEOUT_S = 30;
/** At a connection limit, a connection silent this long (between frames) is closed to make room. */
export const EVICT_IDLE_MS = 2000;
/**
 * Payload bytes received but not yet committed: above the high mark every connection that delivers
 * a frame is paused (TCP flow control slows its sender) until the store is back under the low mark,
 * so reading faster than SQLite writes cannot grow memory without bound.
 */
export const PENDING_HIGH_BYTES = 32 * 1024 * 1024;
export const PENDING_LOW_BYTES = 8 * 1024 * 1024;

/** The answers (docs/security.md): one per frame read, or `busy` for a connection the server will not read. */
export type RelayAnswer = FrameOutcome | "busy" | "error";
const ANSWERS: Record<RelayAnswer, Uint8Array> = {
  stored: encodeNetstring("stored"),
  duplicate: encodeNetstring("duplicate"),
  rejected: encodeNetstring("rejected"),
  busy: encodeNetstring("busy"),
  error: encodeNetstring("error"),
};

export interface RelayServerOptions {
  store: RelayStore;
  log: Logger;
  maxConnections?: number;
  maxConnectionsPerIp?: number;
  maxFrameBytes?: number;
  /** ISO 8601 clock (tests). */
  isoNow?: () => string;
  /** Milliseconds (tests). */
  now?: () => number;
}

export interface RelayServerCounters {
  frames: number;
  bytes: number;
  stored: number;
  duplicates: number;
  rejected: number;
  /** Connections closed for a malformed or oversized frame. */
  protocolErrors: number;
  /** Connections answered `busy` at a connection limit. */
  refused: number;
  /** Idle connections closed to make room for a new one. */
  evicted: number;
  /** Frames whose store write failed (answered `error`). */
  storeErrors: number;
  /** Answers not written because the client does not read them (its queue was full). */
  answersDropped: number;
}

interface ConnState {
  readonly decoder: NetstringDecoder;
  readonly address: string;
  /** Answers go out in frame order: each waits for the one before. */
  answers: Promise<void>;
  /** Frames read and not yet answered. */
  inFlight: number;
  lastActive: number;
  /** The peer half-closed: close once every frame read is answered. */
  peerDone: boolean;
}

/** How long a refused connection's further bytes are read and dropped, so that the peer reads `busy`. */
const BUSY_LINGER_MS = 2000;

export class RelayServer implements TcpServerHandler {
  readonly #store: RelayStore;
  readonly #log: Logger;
  readonly #max: number;
  readonly #maxPerIp: number;
  readonly #maxFrame: number;
  readonly #isoNow: () => string;
  readonly #now: () => number;
  readonly #conns = new Map<TcpConnection, ConnState>();
  readonly #perIp = new Map<string, number>();
  readonly counters: RelayServerCounters = {
    frames: 0,
    bytes: 0,
    stored: 0,
    duplicates: 0,
    rejected: 0,
    protocolErrors: 0,
    refused: 0,
    evicted: 0,
    storeErrors: 0,
    answersDropped: 0,
  };
  #pending = new Set<Promise<unknown>>();
  #pendingBytes = 0;
  #paused = new Set<TcpConnection>();

  constructor(opts: RelayServerOptions) {
    this.#store = opts.store;
    this.#log = opts.log;
    this.#max = opts.maxConnections ?? MAX_CONNECTIONS;
    this.#maxPerIp = opts.maxConnectionsPerIp ?? MAX_CONNECTIONS_PER_IP;
    this.#maxFrame = opts.maxFrameBytes ?? MAX_NETSTRING_BYTES;
    this.#isoNow = opts.isoNow ?? (() => opts.log.isoNow());
    this.#now = opts.now ?? Date.now;
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
    const address = conn.remoteAddress;
    const fromIp = this.#perIp.get(address) ?? 0;
    const full = this.#conns.size >= this.#max ? "connection limit" : fromIp >= this.#maxPerIp ? "per-address connection limit" : null;
    if (full && !this.#evictIdle(full === "connection limit" ? null : address)) {
      this.counters.refused++;
      this.#log.warn("relay connection refused: busy", { from: address, port: conn.remotePort, reason: full });
      conn.write(ANSWERS.busy);
      conn.close(BUSY_LINGER_MS);
      return;
    }
    this.#perIp.set(address, (this.#perIp.get(address) ?? 0) + 1);
    this.#conns.set(conn, {
      decoder: new NetstringDecoder(this.#maxFrame),
      address,
      answers: Promise.resolve(),
      inFlight: 0,
      lastActive: this.#now(),
      peerDone: false,
    });
  }

  data(conn: TcpConnection, chunk: Uint8Array): void {
    const st = this.#conns.get(conn);
    if (!st) return;
    st.lastActive = this.#now();
    try {
      st.decoder.push(chunk, (payload) => this.#frame(conn, st, payload));
    } catch (e) {
      this.#forget(conn);
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

  /** The peer sent everything it will (half-close): answer what was read, then close. */
  end(conn: TcpConnection): void {
    const st = this.#conns.get(conn);
    if (!st || st.inFlight === 0) {
      conn.close();
      return;
    }
    st.peerDone = true;
  }

  idle(conn: TcpConnection): void {
    this.#log.info("relay connection closed: idle", { from: conn.remoteAddress, port: conn.remotePort });
  }

  close(conn: TcpConnection): void {
    const st = this.#forget(conn);
    this.#paused.delete(conn);
    if (st && !st.decoder.idle) {
      this.#log.warn("relay connection closed mid-frame", {
        from: conn.remoteAddress,
        port: conn.remotePort,
        buffered: st.decoder.buffered,
      });
    }
  }

  #forget(conn: TcpConnection): ConnState | undefined {
    const st = this.#conns.get(conn);
    if (!st) return undefined;
    this.#conns.delete(conn);
    const left = (this.#perIp.get(st.address) ?? 1) - 1;
    if (left > 0) this.#perIp.set(st.address, left);
    else this.#perIp.delete(st.address);
    return st;
  }

  /**
   * Makes room by closing the connection (of `address`, or of anyone) that has been silent longest,
   * if that is at least EVICT_IDLE_MS and it is between frames with nothing left to answer: a flood
   * of idle connections cannot lock senders out.
   */
  #evictIdle(address: string | null): boolean {
    const now = this.#now();
    let victim: [TcpConnection, ConnState] | null = null;
    for (const entry of this.#conns) {
      const st = entry[1];
      if ((address !== null && st.address !== address) || st.inFlight > 0 || !st.decoder.idle) continue;
      if (now - st.lastActive >= EVICT_IDLE_MS && (!victim || st.lastActive < victim[1].lastActive)) victim = entry;
    }
    if (!victim) return false;
    const [conn] = victim;
    this.#forget(conn);
    this.counters.evicted++;
    this.#log.info("relay connection closed: idle, to make room for a new one", { from: conn.remoteAddress, port: conn.remotePort });
    conn.close();
    return true;
  }

  #frame(conn: TcpConnection, st: ConnState, payload: Uint8Array): void {
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
    const recorded = this.#store
      .record({
        address: conn.remoteAddress,
        bytes: payload.length,
        at,
        ...(meta ? { block: { number: meta.number, hash: meta.hash, html: payload } } : {}),
      })
      .then(
        (outcome: FrameOutcome): RelayAnswer => {
          if (outcome === "stored") this.counters.stored++;
          else if (outcome === "duplicate") this.counters.duplicates++;
          else this.counters.rejected++;
          return outcome;
        },
        (e: unknown): RelayAnswer => {
          this.counters.storeErrors++;
          this.#log.limited("relay_store", "error", "relay frame not stored", {
            from: conn.remoteAddress,
            block: meta?.number ?? null,
            error: e instanceof Error ? e.message : String(e),
          });
          return "error";
        },
      );
    // The answer is written once the outcome is committed, after the answers of earlier frames.
    st.inFlight++;
    st.answers = Promise.all([recorded, st.answers]).then(([answer]) => {
      st.inFlight--;
      if (!conn.write(ANSWERS[answer])) this.counters.answersDropped++;
      if (st.peerDone && st.inFlight === 0) conn.close();
    });
    this.#pending.add(recorded);
    const size = payload.length;
    this.#pendingBytes += size;
    if (this.#pendingBytes > PENDING_HIGH_BYTES && !this.#paused.has(conn)) {
      this.#paused.add(conn);
      conn.pause();
    }
    void recorded.finally(() => {
      this.#pending.delete(recorded);
      this.#pendingBytes -= size;
      if (this.#paused.size && this.#pendingBytes < PENDING_LOW_BYTES) {
        for (const c of this.#paused) if (this.#conns.has(c)) c.resume();
        this.#paused.clear();
      }
    });
  }

  /** Stops reading, records and answers the frames already received, then closes every connection. */
  async drain(): Promise<void> {
    for (const c of this.#conns.keys()) c.pause();
    const answered = [...this.#conns.values()].map((st) => st.answers);
    await Promise.allSettled([...this.#pending, ...answered]);
    for (const c of [...this.#conns.keys()]) c.close();
  }
}
