// The relay server role (docs/relay.md): decodes netstring frames per TCP connection, logs each with its
// sender, records it (first copy of a block wins) and answers each frame, in order, once its outcome
// is committed: `stored`, `duplicate` or `rejected` (`error` if the commit failed). The frames of one
// event-loop turn, from every connection, are recorded as one batch (one commit), and each connection
// gets the answers of a batch in one write. Limits keep one client from hurting others: connections in
// all and per address (an idle one makes room for a new one; otherwise the newcomer gets `busy`), an
// idle timeout, a frame bound, and a bound on what is read but not yet committed.
import type { Logger } from "../log.ts";
import { nextTurn } from "../next-turn.ts";
import type { FrameOutcome, RelayFrame, RelayStore } from "../storage/relay.port.ts";
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
 * Bytes held for frames received but not yet committed: above the high mark every connection that
 * delivers a frame is paused (TCP flow control slows its sender) until the store is back under the
 * low mark, so reading faster than SQLite writes cannot grow memory without bound. A frame that came
 * in one read is a view of that read's buffer (no copy), so the whole buffer is counted, once.
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
  readonly conn: TcpConnection;
  readonly decoder: NetstringDecoder;
  readonly address: string;
  /** `"from":…,"port":…` of the per-frame log line, built once. */
  readonly logFrom: string;
  /** Answers of the batch being answered, written in one go. */
  out: Uint8Array[];
  outBytes: number;
  /** Frames read and not yet answered. */
  inFlight: number;
  lastActive: number;
  /** The peer half-closed: close once every frame read is answered. */
  peerDone: boolean;
}

/** How long a refused connection's further bytes are read and dropped, so that the peer reads `busy`. */
const BUSY_LINGER_MS = 2000;

/** A batch: the frames of one event-loop turn, in the order they were read, with their connections. */
interface Batch {
  frames: RelayFrame[];
  states: ConnState[];
  /** Memory its frames hold (pendingBytes). */
  held: number;
}

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
  #batch: Batch = { frames: [], states: [], held: 0 };
  /** The buffer of the read being decoded, and whether a frame viewing it has counted it yet. */
  #chunk: ArrayBufferLike | null = null;
  #chunkCounted = false;
  /** Settles once every batch handed to the store so far is answered (answers go out in batch order). */
  #answered: Promise<void> = Promise.resolve();
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
      conn,
      decoder: new NetstringDecoder(this.#maxFrame),
      address,
      logFrom: `"from":${JSON.stringify(address)},"port":${conn.remotePort}`,
      out: [],
      outBytes: 0,
      inFlight: 0,
      lastActive: this.#now(),
      peerDone: false,
    });
  }

  data(conn: TcpConnection, chunk: Uint8Array): void {
    const st = this.#conns.get(conn);
    if (!st) return;
    st.lastActive = this.#now();
    this.#chunk = chunk.buffer;
    this.#chunkCounted = false;
    try {
      st.decoder.push(chunk, (payload) => this.#frame(conn, st, payload));
      this.#chunk = null;
    } catch (e) {
      this.#chunk = null;
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
    const size = payload.length;
    this.counters.frames++;
    this.counters.bytes += size;
    if (this.#log.enabled("info")) {
      // Built by hand: this line is written once per frame on the ingest hot path.
      this.#log.line(
        `{"time":"${at}","level":"info","msg":"relay frame",${st.logFrom},"bytes":${size},"block":${meta ? meta.number : null}}`,
      );
    }
    const b = this.#batch;
    b.frames.push(
      meta
        ? { address: st.address, bytes: size, at, block: { number: meta.number, hash: meta.hash, html: payload } }
        : { address: st.address, bytes: size, at },
    );
    b.states.push(st);
    let held = size;
    if (payload.buffer === this.#chunk) {
      // A view of the read's buffer: the first one holds all of it, the others nothing more.
      held = this.#chunkCounted ? 0 : this.#chunk.byteLength;
      this.#chunkCounted = true;
    }
    b.held += held;
    if (b.frames.length === 1) nextTurn(() => this.#record());
    st.inFlight++;
    this.#pendingBytes += held;
    if (this.#pendingBytes > PENDING_HIGH_BYTES && !this.#paused.has(conn)) {
      this.#paused.add(conn);
      conn.pause();
    }
  }

  /** Hands the turn's frames to the store as one batch; they are answered once it is committed. */
  #record(): void {
    const batch = this.#batch;
    if (!batch.frames.length) return;
    this.#batch = { frames: [], states: [], held: 0 };
    let recorded: Promise<FrameOutcome[]>;
    try {
      recorded = this.#store.recordMany(batch.frames);
    } catch (e) {
      recorded = Promise.reject(e);
    }
    // After the answers of earlier batches, so that each connection reads its answers in frame order.
    this.#answered = Promise.allSettled([recorded, this.#answered]).then(([r]) => {
      try {
        this.#answer(batch, r.status === "fulfilled" ? r.value : null, r.status === "rejected" ? r.reason : null);
      } catch (e) {
        this.#log.error("relay answers failed", { error: e instanceof Error ? e.message : String(e) });
      }
    });
  }

  #answer(batch: Batch, outcomes: FrameOutcome[] | null, error: unknown): void {
    const { frames, states } = batch;
    if (!outcomes) {
      this.counters.storeErrors += frames.length;
      this.#log.limited("relay_store", "error", "relay frame not stored", {
        from: frames[0]?.address ?? null,
        block: frames[0]?.block?.number ?? null,
        frames: frames.length,
        error: error instanceof Error ? error.message : String(error),
      });
    }
    const touched: ConnState[] = [];
    for (let i = 0; i < states.length; i++) {
      const answer: RelayAnswer = outcomes?.[i] ?? "error";
      if (answer === "stored") this.counters.stored++;
      else if (answer === "duplicate") this.counters.duplicates++;
      else if (answer === "rejected") this.counters.rejected++;
      const st = states[i]!;
      if (!st.out.length) touched.push(st);
      const bytes = ANSWERS[answer];
      st.out.push(bytes);
      st.outBytes += bytes.length;
      st.inFlight--;
    }
    for (const st of touched) {
      const parts = st.out;
      let bytes = parts[0]!;
      if (parts.length > 1) {
        bytes = new Uint8Array(st.outBytes);
        let off = 0;
        for (const p of parts) {
          bytes.set(p, off);
          off += p.length;
        }
      }
      st.out = [];
      st.outBytes = 0;
      if (!st.conn.write(bytes)) this.counters.answersDropped += parts.length;
      if (st.peerDone && st.inFlight === 0) st.conn.close();
    }
    this.#pendingBytes -= batch.held;
    if (this.#paused.size && this.#pendingBytes < PENDING_LOW_BYTES) {
      for (const c of this.#paused) if (this.#conns.has(c)) c.resume();
      this.#paused.clear();
    }
  }

  /** Stops reading, records and answers the frames already received, then closes every connection. */
  async drain(): Promise<void> {
    for (const c of this.#conns.keys()) c.pause();
    this.#record();
    await this.#answered;
    for (const c of [...this.#conns.keys()]) c.close();
  }
}
