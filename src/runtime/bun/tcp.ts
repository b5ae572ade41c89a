// Bun.listen / Bun.connect behind the relay's TcpTransport port (src/relay/tcp.port.ts).
import type { TcpConnection, TcpListener, TcpListenOptions, TcpTransport } from "../../relay/tcp.port.ts";

interface BunSocketShape {
  readonly remoteAddress: string;
  readonly remotePort?: number;
  write(data: Uint8Array): number;
  end(): void;
  pause(): void;
  resume(): void;
  timeout(seconds: number): void;
  data: Conn | undefined;
}

class Conn implements TcpConnection {
  readonly #socket: BunSocketShape;
  readonly remoteAddress: string;
  readonly remotePort: number;
  constructor(socket: BunSocketShape) {
    this.#socket = socket;
    // IPv4 clients on a dual-stack socket show as ::ffff:a.b.c.d; stats key them by the IPv4 address.
    this.remoteAddress = socket.remoteAddress.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "");
    this.remotePort = socket.remotePort ?? 0;
  }
  close(): void {
    this.#socket.end();
  }
  pause(): void {
    this.#socket.pause();
  }
  resume(): void {
    this.#socket.resume();
  }
}

async function listen(opts: TcpListenOptions): Promise<TcpListener> {
  const h = opts.handler;
  const listener = Bun.listen<Conn | undefined>({
    hostname: opts.host,
    port: opts.port,
    socket: {
      open(s) {
        const c = new Conn(s);
        s.data = c;
        s.timeout(opts.idleTimeoutS);
        h.open(c);
      },
      data(s, chunk) {
        if (s.data) h.data(s.data, chunk);
      },
      timeout(s) {
        if (s.data) h.idle?.(s.data);
        s.end();
      },
      // The peer half-closed: nothing more will arrive, so close our side too.
      end(s) {
        s.end();
      },
      close(s) {
        const c = s.data;
        s.data = undefined;
        if (c) h.close(c);
      },
      error(s) {
        s.end();
      },
    },
  });
  return { port: listener.port, stop: () => listener.stop(true) };
}

/** One netstring per new connection: connect, write everything (respecting backpressure), end. */
function sendOnce(host: string, port: number, bytes: Uint8Array, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let offset = 0;
    let done = false;
    let sock: { end(): void; terminate?(): void } | undefined;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        sock?.terminate?.();
        reject(err);
      } else resolve();
    };
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    const pump = (s: { write(d: Uint8Array): number; end(): void }) => {
      while (offset < bytes.length) {
        const n = s.write(offset ? bytes.subarray(offset) : bytes);
        if (n <= 0) return; // wait for drain
        offset += n;
      }
      s.end();
    };
    Bun.connect({
      hostname: host,
      port,
      socket: {
        open(s) {
          sock = s;
          pump(s);
        },
        drain(s) {
          pump(s);
        },
        data() {},
        close(_s, err) {
          if (offset < bytes.length) finish(err ?? new Error("connection closed before the frame was written"));
          else finish();
        },
        error(_s, err) {
          finish(err);
        },
        connectError(_s, err) {
          finish(err);
        },
      },
    }).catch((e: unknown) => finish(e instanceof Error ? e : new Error(String(e))));
  });
}

export const bunTcp: TcpTransport = { listen, sendOnce };
