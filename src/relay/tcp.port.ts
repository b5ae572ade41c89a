// The TCP transport the relay needs, typed by the shape it uses: the Bun adapter lives in
// src/runtime/bun/tcp.ts; a test or another runtime can supply its own.

export interface TcpConnection {
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Closes the connection (the transport then calls the handler's close). */
  close(): void;
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
  stop(): void;
}

export interface TcpTransport {
  listen(opts: TcpListenOptions): Promise<TcpListener>;
  /**
   * Opens a new connection, writes `bytes`, half-closes and waits until the peer closes or the
   * data is flushed; rejects on a refused connection, a reset or after `timeoutMs`.
   */
  sendOnce(host: string, port: number, bytes: Uint8Array, timeoutMs: number): Promise<void>;
}
