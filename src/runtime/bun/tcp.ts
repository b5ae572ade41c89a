// Bun.listen / Bun.connect behind the relay's TcpTransport port (src/relay/tcp.port.ts).
import type { ExchangeOptions, TcpConnection, TcpListener, TcpListenOptions, TcpTransport } from "../../relay/tcp.port.ts";

/** Bytes waiting for a peer that does not read, at most; more are dropped (write() says false). */
const MAX_QUEUED = 64 * 1024;
/**
 * Refused connections kept open at once to let their peers read the last answer (see close()): a
 * flood of connections past a limit must not hold thousands of descriptors for the linger time, so
 * beyond this many, a refused connection is closed at once.
 */
export const MAX_LINGERING = 256;
let lingeringNow = 0;

interface BunSocketShape {
  readonly remoteAddress: string;
  readonly remotePort?: number;
  write(data: Uint8Array): number;
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  timeout(seconds: number): void;
  data: Conn | undefined;
}

class Conn implements TcpConnection {
  readonly #socket: BunSocketShape;
  readonly remoteAddress: string;
  readonly remotePort: number;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #ending = false;
  #lingering = false;

  constructor(socket: BunSocketShape) {
    this.#socket = socket;
    // IPv4 clients on a dual-stack socket show as ::ffff:a.b.c.d; stats key them by the IPv4 address.
    this.remoteAddress = socket.remoteAddress.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "");
    this.remotePort = socket.remotePort ?? 0;
  }

  write(bytes: Uint8Array): boolean {
    if (this.#ending) return false;
    if (this.#queued === 0) {
      const n = this.#socket.write(bytes);
      if (n >= bytes.length) return true;
      bytes = bytes.subarray(Math.max(0, n));
    } else if (this.#queued + bytes.length > MAX_QUEUED) return false;
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    return true;
  }

  /** The socket can take more: writes what waits, and ends it if close() was asked meanwhile. */
  drain(): void {
    while (this.#queue.length) {
      const head = this.#queue[0]!;
      const n = this.#socket.write(head);
      if (n < head.length) {
        this.#queue[0] = head.subarray(Math.max(0, n));
        this.#queued -= Math.max(0, n);
        return;
      }
      this.#queue.shift();
      this.#queued -= head.length;
    }
    if (this.#ending && !this.#lingering) this.#socket.end();
  }

  close(lingerMs?: number): void {
    if (this.#ending) return;
    this.#ending = true;
    if (lingerMs === undefined || lingeringNow >= MAX_LINGERING) {
      if (this.#queued === 0) this.#socket.end();
      return;
    }
    // The peer may still be writing into a connection we refuse. Closing now would make the kernel
    // answer its next bytes with a reset, which a client that writes before it reads sees instead of
    // our last answer: keep reading and dropping (the listener ignores a closing connection) until
    // the peer closes its side (then we close ours) or lingerMs passes (then the connection is cut).
    this.#lingering = true;
    lingeringNow++;
    const timer = setTimeout(() => this.#socket.terminate(), lingerMs);
    (timer as { unref?: () => void }).unref?.();
  }

  /** The socket closed (the transport's close event): a lingering slot is free again. */
  closed(): void {
    if (!this.#lingering) return;
    this.#lingering = false;
    lingeringNow--;
  }

  /** Whether close() was asked: what arrives now is dropped. */
  get closing(): boolean {
    return this.#ending;
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
    // A peer that half-closes after writing still reads our answers: we close when we are done.
    allowHalfOpen: true,
    socket: {
      open(s) {
        const c = new Conn(s);
        s.data = c;
        s.timeout(opts.idleTimeoutS);
        h.open(c);
      },
      data(s, chunk) {
        // Bun hands each read over in a buffer of its own: the handler may keep views of it (the
        // relay's decoder does, to take frames without a copy).
        if (s.data && !s.data.closing) h.data(s.data, chunk);
      },
      drain(s) {
        s.data?.drain();
      },
      timeout(s) {
        // Half-closed by us already (a refusal, an eviction, an earlier timeout) and still silent:
        // the peer never closes its side, so cut it.
        if (!s.data || s.data.closing) {
          s.terminate();
          return;
        }
        h.idle?.(s.data);
        s.data.close();
      },
      // The peer half-closed: nothing more will arrive. The handler closes once it has answered
      // (a connection we already closed ends here).
      end(s) {
        if (s.data && !s.data.closing && h.end) h.end(s.data);
        else s.end();
      },
      close(s) {
        const c = s.data;
        s.data = undefined;
        c?.closed();
        if (c) h.close(c);
      },
      error(s) {
        s.end();
      },
    },
  });
  // Open connections are the handler's to finish (the relay server answers what it read first).
  return { port: listener.port, stop: () => listener.stop(false) };
}

/** A new connection: write everything (respecting backpressure), then read the answer. */
function exchange(host: string, port: number, bytes: Uint8Array, opts: ExchangeOptions): Promise<Uint8Array> {
  return new Promise<Uint8Array>((resolve, reject) => {
    let offset = 0;
    let received = new Uint8Array(0);
    let done = false;
    let sock: { end(): void; terminate?(): void } | undefined;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        sock?.terminate?.();
        reject(err);
      } else {
        sock?.end();
        resolve(received);
      }
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    const pump = (s: { write(d: Uint8Array): number }) => {
      while (offset < bytes.length) {
        const n = s.write(offset ? bytes.subarray(offset) : bytes);
        if (n <= 0) return; // wait for drain
        offset += n;
      }
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
        data(_s, chunk) {
          const next = new Uint8Array(received.length + chunk.length);
          next.set(received);
          next.set(chunk, received.length);
          received = next;
          if (opts.complete(received)) finish();
        },
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

export const bunTcp: TcpTransport = { listen, exchange };
