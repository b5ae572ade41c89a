// An HTTP + WebSocket JSON-RPC proxy in front of a real node (anvil) that counts the upstream calls
// per method, so tests can prove caching, coalescing and subscription sharing by counting.
// pause()/resume() hold HTTP answers so concurrent requests deterministically overlap.

export interface CountingProxy {
  url: string;
  wsUrl: string;
  port: number;
  /** Calls per JSON-RPC method seen so far (HTTP bodies, batch elements, WebSocket frames). */
  counts(): Record<string, number>;
  count(method: string): number;
  /** Sum over all methods. */
  total(): number;
  /** HTTP requests (POSTs) received, a batch counts once. */
  httpRequests(): number;
  /** WebSocket connections opened by clients so far / open now. */
  wsConnections(): { opened: number; open: number };
  /** HTTP requests currently held by pause() or in flight upstream. */
  pending(): number;
  reset(): void;
  /** Hold every HTTP answer (requests are counted on arrival) until resume(). */
  pause(): void;
  resume(): void;
  /** Resolves once at least n HTTP requests are pending (held or in flight). */
  waitPending(n: number, timeoutMs?: number): Promise<void>;
  /** Closes every proxied WebSocket (client and upstream side) with the given code. */
  dropWebSockets(code?: number): void;
  stop(): Promise<void>;
}

interface WsData {
  upstream?: WebSocket;
  queue: string[];
}

/** Minimal shape of the Bun server-side socket used here. */
interface ServerSocket {
  data: WsData;
  send(m: string | Uint8Array): unknown;
  close(code?: number, reason?: string): void;
}

export async function startCountingProxy(target: { url: string; wsUrl?: string }, opts: { port?: number } = {}): Promise<CountingProxy> {
  const counts = new Map<string, number>();
  let http = 0;
  let pending = 0;
  let paused = false;
  let waiters: (() => void)[] = [];
  let pendingWatchers: { n: number; resolve: () => void }[] = [];
  let opened = 0;
  const sockets = new Set<ServerSocket>();
  const wsTarget = target.wsUrl ?? target.url.replace(/^http/, "ws");

  const countBody = (text: string) => {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      counts.set("<unparsable>", (counts.get("<unparsable>") ?? 0) + 1);
      return;
    }
    for (const m of Array.isArray(msg) ? msg : [msg]) {
      const method =
        m && typeof m === "object" && typeof (m as { method?: unknown }).method === "string"
          ? (m as { method: string }).method
          : "<invalid>";
      counts.set(method, (counts.get(method) ?? 0) + 1);
    }
  };
  const notePending = () => {
    pendingWatchers = pendingWatchers.filter((w) => {
      if (pending >= w.n) w.resolve();
      return pending < w.n;
    });
  };

  const server = Bun.serve<WsData, never>({
    hostname: "127.0.0.1",
    port: opts.port ?? 0,
    async fetch(req, srv) {
      if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
        opened++;
        if (srv.upgrade(req, { data: { queue: [] } })) return undefined;
        return new Response("upgrade failed", { status: 400 });
      }
      const body = await req.text();
      http++;
      if (req.method === "POST") countBody(body);
      pending++;
      notePending();
      try {
        if (paused) await new Promise<void>((r) => waiters.push(r));
        const headers = new Headers(req.headers);
        headers.delete("host");
        headers.delete("content-length");
        const res = await fetch(target.url, {
          method: req.method,
          headers,
          body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
        });
        const out = await res.arrayBuffer();
        return new Response(out, {
          status: res.status,
          headers: { "content-type": res.headers.get("content-type") ?? "application/json" },
        });
      } catch (e) {
        return new Response(`proxy: upstream failed: ${String(e)}`, { status: 502 });
      } finally {
        pending--;
      }
    },
    websocket: {
      open(ws) {
        const sock = ws as unknown as ServerSocket;
        sockets.add(sock);
        const up = new WebSocket(wsTarget);
        ws.data.upstream = up;
        up.onopen = () => {
          for (const m of ws.data.queue) up.send(m);
          ws.data.queue = [];
        };
        up.onmessage = (ev) => {
          ws.send(typeof ev.data === "string" ? ev.data : new Uint8Array(ev.data as ArrayBuffer));
        };
        up.onclose = (ev) => {
          try {
            ws.close(ev.code === 1005 || ev.code === 1006 ? 1011 : ev.code, "upstream closed");
          } catch {
            /* already closed */
          }
        };
        up.onerror = () => {};
      },
      message(ws, message) {
        // JSON-RPC frames are text; a binary frame is forwarded as its UTF-8 text.
        const text = typeof message === "string" ? message : new TextDecoder().decode(message);
        countBody(text);
        const up = ws.data.upstream;
        if (up && up.readyState === WebSocket.OPEN) up.send(text);
        else ws.data.queue.push(text);
      },
      close(ws) {
        sockets.delete(ws as unknown as ServerSocket);
        const up = ws.data.upstream;
        if (up && (up.readyState === WebSocket.OPEN || up.readyState === WebSocket.CONNECTING)) up.close();
      },
    },
  });
  const port = server.port ?? 0;

  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    counts: () => Object.fromEntries(counts),
    count: (m) => counts.get(m) ?? 0,
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    httpRequests: () => http,
    wsConnections: () => ({ opened, open: sockets.size }),
    pending: () => pending,
    reset: () => {
      counts.clear();
      http = 0;
    },
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
      const w = waiters;
      waiters = [];
      for (const r of w) r();
    },
    waitPending: (n, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        if (pending >= n) return resolve();
        const timer = setTimeout(() => reject(new Error(`proxy: ${pending} pending, wanted ${n}`)), timeoutMs);
        pendingWatchers.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      }),
    dropWebSockets: (code = 1012) => {
      for (const s of [...sockets]) {
        s.data.upstream?.close();
        s.close(code, "dropped by test");
      }
    },
    stop: async () => {
      paused = false;
      for (const r of waiters) r();
      waiters = [];
      for (const s of [...sockets]) s.close(1001, "proxy stopping");
      await server.stop(true);
    },
  };
}
