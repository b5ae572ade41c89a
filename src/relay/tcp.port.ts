// The TCP transport the relay needs, typed by the shape it uses: the Bun adapter lives in
// src/runtime/bun/tcp.ts; a test or another runtime can supply its own.

export interface TcpConnection {
  readonly remoteAddress: string;
  readonly remotePort: number;
  /**
   * Queues bytes for the peer, written as the socket drains. False (and dropped) when more than the
   * transport's bound is already waiting: a peer that never reads cannot grow memory.
   */
  write(bytes: Uint8Array): boolean;
  /**
   * Closes the connection after what is queued; the transport then calls the handler's close. With
   * `lingerMs`, what the peer still sends is read and dropped until it closes its side or `lingerMs`
   * passes, so that a peer still writing reads our last answer instead of a connection reset.
   */
  close(lingerMs?: number): void;
  /** Stops reading (backpressure: TCP flow control then slows the sender). */
  pause(): void;
  resume(): void;
}

export interface TcpServerHandler {
  open(conn: TcpConnection): void;
  data(conn: TcpConnection, chunk: Uint8Array): void;
  close(conn: TcpConnection): void;
  /** No byte received for the idle timeout: the transport closes the connection after this. */
  idle?(conn: TcpConnection): void;
  /**
   * The peer half-closed (sent FIN): nothing more will arrive, but it may still read. The handler
   * closes the connection once it has answered what it read; without this hook the transport
   * closes at once.
   */
  end?(conn: TcpConnection): void;
}

export interface TcpListenOptions {
  host: string;
  port: number;
  /** Seconds without a received byte before a connection is closed. */
  idleTimeoutS: number;
  handler: TcpServerHandler;
}

export interface TcpListener {
  readonly port: number;
  /** Stops accepting; connections already open stay until the handler or the peer closes them. */
  stop(): void;
}

export interface ExchangeOptions {
  timeoutMs: number;
  /** Whether the bytes received so far hold the whole answer (then the connection is closed). */
  complete(received: Uint8Array): boolean;
}

export interface TcpTransport {
  listen(opts: TcpListenOptions): Promise<TcpListener>;
  /**
   * Opens a new connection, writes `bytes` and reads the answer: resolves with what arrived once
   * `complete` says so or the peer closed (possibly nothing); rejects on a refused connection, a
   * reset before the bytes were written, or after `timeoutMs`.
   */
  exchange(host: string, port: number, bytes: Uint8Array, opts: ExchangeOptions): Promise<Uint8Array>;
}
