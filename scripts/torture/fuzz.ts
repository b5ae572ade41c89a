// Scenario "fuzz": ≥ 10,000 random and mutated inputs on every surface of one pexd (with a real
// anvil upstream so the gateway routes work): raw HTTP requests over every route of GET
// /openapi.json (and off them), JSON-RPC over POST /eth and over client WebSockets, and netstring
// streams to the relay port. Checks, per case:
//  - HTTP: no status ≥ 500 other than the documented ones (505 only for a request line whose version
//    is not HTTP/1.0 or 1.1, where it is the right answer; a HEAD answer has no body, its status
//    alone is judged); a complete request gets an answer within 10 s;
//  - WebSocket: every answer is JSON with numeric error codes (pexd's own -32603 carries a
//    documented data.code), and the socket still answers a sentinel call after each case (a close
//    is 1008 or 1009, never 1011 or an abnormal drop);
//  - relay: answers are netstrings among stored/duplicate/rejected/busy, every well-formed frame is
//    answered (also when the sender half-closes after writing), a plain block-number tag is never
//    rejected.
// After each burst of 500 cases: the process is alive and GET /health answers 200 (a crash is
// bisected: the burst is replayed case by case on a fresh process to name the case that kills it).
// At the end: pexd's own error-level log lines, and the 500s its /metrics counted that no client
// received, are failures too (an internal-error path taken for a client's malformed input).
import { rmSync } from "node:fs";
import { connect } from "node:net";
import { startAnvil } from "../../test/helpers/anvil.ts";
import { type Pexd, tempDir } from "../../test/helpers/pexd.ts";
import {
  type FuzzCase,
  type HttpCase,
  type RelayCase,
  type Route,
  type WsCase,
  describeBytes,
  ethCase,
  httpCase,
  relayCase,
  wsCase,
} from "./fuzz-gen.ts";
import {
  type Ctx,
  Failures,
  type Rng,
  type ScenarioResult,
  alive,
  decodeNetstrings,
  DOCUMENTED_5XX,
  excerpt,
  freePort,
  http,
  onCleanup,
  parseJson,
  pool,
  spawnPexd,
  undocumented5xx,
  UPSTREAM_RPC_CODES,
} from "./lib.ts";

const BURST = 500;
const HTTP_CONCURRENCY = 16;
const WS_SOCKETS = 8;
const RELAY_CONCURRENCY = 20;
/**
 * Relay cases come from this many loopback addresses, so they stay far below the 32 connections per
 * address (closed connections are released by the server a little later): a `busy` refusal is not
 * what this scenario is about, and a client still writing can lose it to a reset.
 */
const RELAY_SOURCES = 8;
/** A complete request with no answer in this long is a failure (the upstream timeout is 3 s). */
const ANSWER_TIMEOUT_MS = 10_000;

interface Tally {
  http: number;
  eth: number;
  ws: number;
  relay: number;
  statuses: Map<string, number>;
  wsCloses: Map<number, number>;
  relayAnswers: Map<string, number>;
  crashes: number;
}

export async function runFuzz(ctx: Ctx, rng: Rng): Promise<ScenarioResult> {
  const t0 = performance.now();
  const total = ctx.short ? 10_000 : 25_000;
  const failures = new Failures(4);
  const tally: Tally = { http: 0, eth: 0, ws: 0, relay: 0, statuses: new Map(), wsCloses: new Map(), relayAnswers: new Map(), crashes: 0 };
  const anvil = await startAnvil();
  const stopAnvil = onCleanup(() => anvil.stop());
  const dataDir = tempDir("pexd-torture-fuzz-");
  const removeDir = onCleanup(() => rmSync(dataDir, { recursive: true, force: true }));
  const relayPort = await freePort();
  const env = {
    PEXD_ETH_HTTP_URL: anvil.url,
    PEXD_ETH_WS_URL: anvil.wsUrl,
    PEXD_ETH_TIMEOUT_MS: "3000",
    PEXD_RELAY_PORT: String(relayPort),
    PEXD_LOG_LEVEL: "warn",
  };
  const start = () => spawnPexd({ dataDir, env });
  let pexd = await start();
  const routes = await listRoutes(pexd.url);
  const errorLogs = new Map<string, number>();

  try {
    for (let done = 0, burst = 0; done < total; burst++) {
      const cases = Array.from({ length: Math.min(BURST, total - done) }, (_, i) => nextCase(rng, routes, done + i));
      done += cases.length;
      await runBurst(pexd, relayPort, cases, failures, tally);
      const healthy =
        alive(pexd.pid) && pexd.proc.exitCode === null && (await http(`${pexd.url}/health`, { timeoutMs: 5000 })).status === 200;
      collectErrorLogs(pexd, errorLogs, failures);
      if (!healthy) {
        tally.crashes++;
        const tail = excerpt(pexd.output().slice(-600), 400);
        failures.add(
          `pexd died or stopped answering /health during burst ${burst} (cases #${done - cases.length}..#${done - 1}); output tail: ${tail}`,
          "crash",
        );
        await pexd.dispose();
        const culprit = await bisect(start, relayPort, cases);
        failures.add(
          culprit ? `crash reproduced by case ${culprit}` : "crash not reproduced when the burst was replayed case by case",
          "crash culprit",
        );
        pexd = await start();
      }
      if ((burst + 1) % 10 === 0) ctx.log(`fuzz: ${done}/${total} cases, ${failures.count} failures`);
    }
    await checkServerCounted5xx(pexd, tally.statuses, failures);
  } finally {
    await pexd.dispose();
    await stopAnvil();
    await removeDir();
  }

  const statuses = [...tally.statuses]
    .sort()
    .map(([k, v]) => `${k}:${v}`)
    .join(" ");
  const relayAnswers = [...tally.relayAnswers].map(([k, v]) => `${k}:${v}`).join(" ");
  const wsCloses = [...tally.wsCloses].map(([k, v]) => `${k}×${v}`).join(" ");
  const errors = [...errorLogs].map(([k, v]) => `${k} ×${v}`).join("; ");
  const cases = tally.http + tally.eth + tally.ws + tally.relay;
  return {
    name: "fuzz",
    tried: `${cases} cases: ${tally.http} HTTP over ${routes.length} routes, ${tally.eth} POST /eth, ${tally.ws} WebSocket, ${tally.relay} relay`,
    failed: `${failures.count} failing cases; ${tally.crashes} crashes${failures.count ? `: ${failures.summary()}` : ""}`,
    measured: `HTTP statuses ${statuses}; relay answers ${relayAnswers}; WebSocket closes ${wsCloses || "none"}; pexd error log lines: ${errors || "none"}`,
    pass: failures.count === 0 && cases >= 10_000,
    details: failures.items,
    seconds: (performance.now() - t0) / 1000,
  };
}

async function listRoutes(url: string): Promise<Route[]> {
  const r = await http(`${url}/openapi.json`);
  const doc = parseJson(r.status === 200 ? r.text : "") as { paths?: Record<string, Record<string, unknown>> } | undefined;
  if (!doc?.paths) throw new Error(`GET /openapi.json: ${r.status}`);
  return Object.entries(doc.paths).map(([path, ops]) => ({ path, methods: Object.keys(ops).map((m) => m.toUpperCase()) }));
}

function nextCase(rng: Rng, routes: Route[], index: number): FuzzCase {
  const kind = rng.weighted([
    [50, "http"],
    [20, "eth"],
    [12, "ws"],
    [18, "relay"],
  ] as const);
  if (kind === "http") return httpCase(rng, routes, index);
  if (kind === "eth") return ethCase(rng, index);
  if (kind === "ws") return wsCase(rng, index);
  return relayCase(rng, index);
}

/** Error-level log lines of pexd (they are rate-limited per message, so counts are lower bounds). */
function collectErrorLogs(pexd: Pexd, into: Map<string, number>, failures: Failures): void {
  for (const l of pexd.logs.splice(0)) {
    if (l.level !== "error") continue;
    const key = String(l.msg);
    if (!into.has(key)) failures.add(`first line: ${excerpt(JSON.stringify(l), 400)}`, `pexd logged an error: "${key}"`);
    into.set(key, (into.get(key) ?? 0) + 1);
  }
}

/**
 * Requests pexd itself counted as 5xx (pexd_http_requests_total) against those a client saw: a 500
 * no client saw is an internal error path taken for a client's misbehaviour (e.g. an abort).
 */
async function checkServerCounted5xx(pexd: Pexd, seen: Map<string, number>, failures: Failures): Promise<void> {
  const r = await http(`${pexd.url}/metrics`);
  const counted = new Map<string, number>();
  for (const m of r.text.matchAll(/^pexd_http_requests_total\{[^}]*route="([^"]*)"[^}]*status="(5\d\d)"[^}]*\} (\d+)/gm)) {
    counted.set(`${m[2]} ${m[1]}`, (counted.get(`${m[2]} ${m[1]}`) ?? 0) + Number(m[3]));
  }
  const server500 = [...counted].filter(([k]) => k.startsWith("500 "));
  const total = server500.reduce((a, [, n]) => a + n, 0);
  const saw = seen.get("500") ?? 0;
  if (total > saw) {
    const where = server500.map(([k, n]) => `${k.slice(4)} ×${n}`).join(", ");
    failures.add(
      `pexd_http_requests_total has ${total} answers 500 (${where}); clients received ${saw}`,
      "pexd counted 500s no client received (/metrics)",
    );
  }
}

const bump = <K>(m: Map<K, number>, k: K) => m.set(k, (m.get(k) ?? 0) + 1);

async function runBurst(pexd: Pexd, relayPort: number, cases: FuzzCase[], failures: Failures, tally: Tally): Promise<void> {
  const httpCases = cases.filter((c): c is HttpCase => c.kind === "http");
  const wsCases = cases.filter((c): c is WsCase => c.kind === "ws");
  const relayCases = cases.filter((c): c is RelayCase => c.kind === "relay");
  const sockets = Array.from({ length: WS_SOCKETS }, () => new FuzzSocket(pexd.url.replace(/^http/, "ws")));
  const wsQueue = [...wsCases];
  await Promise.all([
    pool(httpCases, HTTP_CONCURRENCY, async (c) => {
      if (c.rpc) tally.eth++;
      else tally.http++;
      const v = judgeHttp(c, await rawHttp(pexd.port, c), tally);
      if (v) failures.add(`${c.label}: ${v.why}; request ${describeBytes(c.bytes)}`, v.category);
    }),
    ...sockets.map(async (s) => {
      for (let c = wsQueue.shift(); c; c = wsQueue.shift()) {
        tally.ws++;
        const v = await s.run(c, tally);
        if (v)
          failures.add(
            `${c.label}: ${v.why}; messages ${c.messages.map((m) => describeBytes(typeof m === "string" ? new TextEncoder().encode(m) : m, 200)).join(" ")}`,
            v.category,
          );
      }
      s.close();
    }),
    pool(relayCases, RELAY_CONCURRENCY, async (c, i) => {
      tally.relay++;
      const v = await runRelayCase(relayPort, `127.0.2.${1 + (i % RELAY_SOURCES)}`, c, tally);
      if (v) failures.add(`${c.label}: ${v.why}; bytes ${c.chunks.map((b) => describeBytes(b, 120)).join(" + ")}`, v.category);
    }),
  ]);
}

// ---------------------------------------------------------------------------------------------
// HTTP over raw TCP

interface RawAnswer {
  status: number | null;
  contentType: string;
  body: string;
  /** No answer and the connection still open when we gave up. */
  hung: boolean;
}

/** Writes the bytes, reads one response (status, headers, up to 64 KiB of body) or the close. */
export function rawHttp(port: number, c: HttpCase, timeoutMs = ANSWER_TIMEOUT_MS): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    let buf = Buffer.alloc(0);
    let done = false;
    let status: number | null = null;
    let contentType = "";
    let bodyStart = -1;
    let length = -1;
    const finish = (hung: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ status, contentType, body: bodyStart >= 0 ? buf.subarray(bodyStart, bodyStart + 2000).toString("latin1") : "", hung });
    };
    // An incomplete request may legitimately wait for the rest until the idle timeout: stop early.
    const timer = setTimeout(() => finish(status === null), c.incomplete ? 3000 : timeoutMs);
    sock.on("error", () => {});
    sock.on("close", () => finish(false));
    sock.on("connect", () => {
      sock.write(c.bytes);
      if (c.incomplete) sock.end();
    });
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (status === null) {
        // Skip interim 1xx answers (100 Continue) and parse the first final one.
        for (;;) {
          const end = buf.indexOf("\r\n\r\n");
          if (end < 0) return;
          const head = buf.subarray(0, end).toString("latin1");
          const m = /^HTTP\/\d\.\d (\d{3})/.exec(head);
          if (!m) return finish(false);
          const code = Number(m[1]);
          if (code >= 100 && code < 200 && code !== 101) {
            buf = buf.subarray(end + 4);
            continue;
          }
          status = code;
          contentType = /\r\ncontent-type: *([^\r]*)/i.exec(head)?.[1] ?? "";
          const cl = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
          length = cl === undefined ? -1 : Number(cl);
          bodyStart = end + 4;
          // Streams (SSE) and upgrades never end by themselves: the status is what we came for.
          if (code === 101 || contentType.startsWith("text/event-stream")) return finish(false);
          break;
        }
      }
      if ((length >= 0 && buf.length - bodyStart >= length) || buf.length > 1_048_576) finish(false);
    });
  });
}

/** A failing case: a category (grouped in the report) and what exactly went wrong. */
interface Verdict {
  category: string;
  why: string;
}

/** The request line says HTTP/1.0 or HTTP/1.1 (else 505 "HTTP Version Not Supported" is the right answer). */
function versionSupported(bytes: Uint8Array): boolean {
  const line = new TextDecoder("latin1").decode(bytes.subarray(0, Math.min(bytes.length, 16_384))).split("\r\n")[0] ?? "";
  return / HTTP\/1\.[01]$/.test(line);
}

function routeOf(c: HttpCase): string {
  return (/^#\d+ \S+ (\/[^?#\s]*)/.exec(c.label)?.[1] ?? "?").slice(0, 40);
}

function judgeHttp(c: HttpCase, a: RawAnswer, tally: Tally): Verdict | null {
  bump(
    tally.statuses,
    a.status === null ? (a.hung ? "hung" : "closed") : a.status >= 500 ? String(a.status) : `${Math.floor(a.status / 100)}xx`,
  );
  if (a.status === null) {
    return a.hung && !c.incomplete
      ? { category: "HTTP: complete request not answered", why: `no answer within ${ANSWER_TIMEOUT_MS} ms` }
      : null;
  }
  if (a.status === 505) {
    // RFC 9110 §15.6.6: right for HTTP/2.0, HTTP/9 or no version. For a malformed HTTP/1.x request
    // line (control bytes, a space in the target) 400 would be better, but Bun's parser answers
    // 505 before pexd sees the request: documented (docs/security.md) and counted, not a failure.
    if (versionSupported(c.bytes)) bump(tally.statuses, "505 (malformed request line, documented)");
    return null;
  }
  // A HEAD answer has no body to carry the code: a documented status is all it can say.
  if (a.body === "" && c.bytes[0] === 0x48 && c.bytes[1] === 0x45 && c.bytes[4] === 0x20 && DOCUMENTED_5XX[a.status]) return null;
  const why = undocumented5xx(a.status, a.body);
  if (!why) return null;
  const code = (parseJson(a.body) as { code?: unknown } | undefined)?.code;
  return {
    category: `HTTP ${a.status} ${String(code ?? "")} on ${c.rpc ? "/eth" : routeOf(c)}`,
    why: `${why}; body ${excerpt(a.body, 200)}`,
  };
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC over a client WebSocket

/** -32603 from pexd must carry a documented data.code; anything that is not JSON is a failure. */
function judgeRpcText(text: string): string | null {
  const msg = parseJson(text);
  if (msg === undefined || msg === null || typeof msg !== "object") return `answer is not a JSON-RPC object: ${excerpt(text)}`;
  for (const m of (Array.isArray(msg) ? msg : [msg]) as { error?: { code?: unknown; message?: unknown; data?: { code?: unknown } } }[]) {
    const e = m?.error;
    if (!e) continue;
    if (typeof e.code !== "number") return `error without a numeric code: ${excerpt(text)}`;
    if (typeof e.message !== "string") return `error without a message: ${excerpt(JSON.stringify(m), 400)}`;
    // pexd's own -32603 carries data.code; one without data is the upstream's, passed through unchanged (documented).
    if (e.code === -32603 && e.data?.code !== undefined && !(typeof e.data.code === "string" && UPSTREAM_RPC_CODES.includes(e.data.code))) {
      return `-32603 with an undocumented data.code: ${excerpt(JSON.stringify(m), 400)}`;
    }
  }
  return null;
}

/** A persistent client WebSocket: each case sends its messages, then a sentinel call that must be answered. */
class FuzzSocket {
  #ws: WebSocket | null = null;
  #open: Promise<boolean> | null = null;
  #inbox: string[] = [];
  #wake: (() => void) | null = null;
  #closed: { code: number; reason: string } | null = null;
  #seq = 0;
  #path = "";

  constructor(readonly base: string) {}

  #connect(path: string): Promise<boolean> {
    this.#path = path;
    this.#closed = null;
    const ws = new WebSocket(this.base + path);
    this.#ws = ws;
    this.#open = new Promise((resolve) => {
      ws.onopen = () => resolve(true);
      ws.onerror = () => resolve(false);
      // Events of a socket this one replaced (we closed it) are not this socket's.
      ws.onmessage = (ev) => {
        if (ws !== this.#ws) return;
        this.#inbox.push(typeof ev.data === "string" ? ev.data : new TextDecoder().decode(ev.data as ArrayBuffer));
        this.#wake?.();
      };
      ws.onclose = (ev) => {
        if (ws !== this.#ws) return;
        this.#closed = { code: ev.code, reason: ev.reason };
        resolve(false);
        this.#wake?.();
      };
    });
    return this.#open;
  }

  async run(c: WsCase, tally: Tally): Promise<Verdict | null> {
    if (!this.#ws || this.#closed || this.#path !== c.path) {
      this.#ws?.close();
      if (!(await this.#connect(c.path)))
        return { category: "WebSocket: cannot connect", why: `at ${c.path}: ${JSON.stringify(this.#closed)}` };
    }
    const ws = this.#ws!;
    this.#inbox = [];
    for (const m of c.messages) ws.send(m as string | Uint8Array<ArrayBuffer>);
    const sentinel = `sentinel-${this.#seq++}`;
    ws.send(JSON.stringify({ jsonrpc: "2.0", id: sentinel, method: "eth_chainId", params: [] }));
    const deadline = performance.now() + ANSWER_TIMEOUT_MS;
    let answered = false;
    while (!answered && !this.#closed && performance.now() < deadline) {
      const woke = new Promise<void>((r) => (this.#wake = r));
      const timer = setTimeout(() => this.#wake?.(), 200);
      await woke;
      clearTimeout(timer);
      answered = this.#inbox.some((t) => t.includes(`"${sentinel}"`));
    }
    for (const t of this.#inbox) {
      const why = judgeRpcText(t);
      if (why) return { category: "WebSocket: malformed or undocumented answer", why };
    }
    if (this.#closed) {
      bump(tally.wsCloses, this.#closed.code);
      // 1008 (policy: slow consumer, connection limit) and 1009 (message too big) are documented.
      if (![1008, 1009].includes(this.#closed.code)) {
        return { category: `WebSocket closed by pexd with ${this.#closed.code}`, why: `close ${this.#closed.code} ${this.#closed.reason}` };
      }
      return null;
    }
    return answered
      ? null
      : { category: "WebSocket: stopped answering", why: `the sentinel call got no answer within ${ANSWER_TIMEOUT_MS} ms` };
  }

  close(): void {
    this.#ws?.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Relay netstrings

const RELAY_ANSWERS = ["stored", "duplicate", "rejected", "busy"];

function runRelayCase(port: number, localAddress: string, c: RelayCase, tally: Tally): Promise<Verdict | null> {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port, localAddress, noDelay: true });
    let buf = Buffer.alloc(0);
    let done = false;
    let quiet: ReturnType<typeof setTimeout> | undefined;
    const answers = () => decodeNetstrings(buf);
    const finish = (why: string | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(quiet);
      sock.destroy();
      const { frames, rest, malformed } = answers();
      for (const f of frames) bump(tally.relayAnswers, f);
      if (malformed) return resolve({ category: "relay: answer is not a netstring", why: describeBytes(rest, 80) });
      const bad = frames.find((f) => !RELAY_ANSWERS.includes(f));
      if (bad !== undefined) return resolve({ category: `relay: answered ${JSON.stringify(bad)}`, why: `answers ${frames.join(",")}` });
      if (c.mustStore && frames.includes("rejected")) {
        return resolve({ category: "relay: plain block-number tag rejected", why: `answers ${frames.join(",")}` });
      }
      if (why && !frames.includes("busy")) {
        return resolve({
          category: c.halfClose ? "relay: frame of a half-closed sender not answered" : "relay: well-formed frame not answered",
          why,
        });
      }
      resolve(null);
    };
    const settled = () => {
      const { frames } = answers();
      if (c.expect !== null && (frames.length >= c.expect || frames.includes("busy"))) finish(null);
      else if (c.expect === null) {
        clearTimeout(quiet);
        quiet = setTimeout(() => finish(null), 250);
      }
    };
    const timer = setTimeout(
      () =>
        finish(c.expect !== null ? `${c.expect - answers().frames.length} of ${c.expect} well-formed frames unanswered after 5 s` : null),
      5000,
    );
    sock.on("error", () => {});
    sock.on("close", () =>
      finish(c.expect !== null ? `connection closed with ${c.expect - answers().frames.length} of ${c.expect} frames unanswered` : null),
    );
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      settled();
    });
    sock.on("connect", async () => {
      for (const chunk of c.chunks) await new Promise<void>((r) => sock.write(chunk, () => r()));
      if (c.halfClose) sock.end();
      settled();
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Crash bisection

async function bisect(start: () => Promise<Pexd>, relayPort: number, cases: FuzzCase[]): Promise<string | null> {
  const pexd = await start();
  const scratch: Tally = {
    http: 0,
    eth: 0,
    ws: 0,
    relay: 0,
    statuses: new Map(),
    wsCloses: new Map(),
    relayAnswers: new Map(),
    crashes: 0,
  };
  try {
    for (const c of cases) {
      const one = new Failures();
      await runBurst(pexd, relayPort, [c], one, scratch);
      if (!alive(pexd.pid) || (await http(`${pexd.url}/health`, { timeoutMs: 5000 })).status !== 200) {
        const detail =
          c.kind === "http"
            ? describeBytes(c.bytes, 600)
            : c.kind === "relay"
              ? c.chunks.map((b) => describeBytes(b, 300)).join(" + ")
              : JSON.stringify(c.messages).slice(0, 600);
        return `${c.label}: ${detail}`;
      }
    }
    return null;
  } finally {
    await pexd.dispose();
  }
}
