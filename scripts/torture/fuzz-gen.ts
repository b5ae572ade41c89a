// Case generators of the fuzz scenario. Every case is a pure function of the PRNG, so the same seed
// gives the same cases in the same order (reproduce a failure with `--only fuzz --seed N`; its
// case number is in the report). HTTP cases are raw bytes (sent over TCP, so anything goes: bad
// request lines, invalid UTF-8, GET with a body, broken chunking); JSON-RPC messages go over
// POST /eth and client WebSockets; relay cases are netstring byte streams.
import type { Rng } from "./lib.ts";
import { blockDoc, netstring } from "./lib.ts";

const enc = new TextEncoder();
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

export interface Route {
  path: string;
  methods: string[];
}

export interface HttpCase {
  kind: "http";
  label: string;
  bytes: Uint8Array;
  /** The request is incomplete on purpose (short body, unfinished chunks): no answer is acceptable. */
  incomplete: boolean;
  /** A JSON-RPC body for POST /eth (counted apart). */
  rpc: boolean;
}
export interface WsCase {
  kind: "ws";
  label: string;
  path: string;
  messages: (string | Uint8Array)[];
}
export interface RelayCase {
  kind: "relay";
  label: string;
  chunks: Uint8Array[];
  /** Answers that must arrive (well-formed frames), or null when the stream is malformed/incomplete. */
  expect: number | null;
  /** Answers allowed for the frames that must be answered (a plain block-number tag is never rejected). */
  mustStore: boolean;
  halfClose: boolean;
}
export type FuzzCase = HttpCase | WsCase | RelayCase;

// ---------------------------------------------------------------------------------------------
// Building blocks

const UNICODE = ["é", "ß", "😀", "漢字", "\u202e", "\u0000", "\ufeff", "\ud800", "\uffff", "Ω≈ç√", "\u200b", "A\u030a"];

function junkString(rng: Rng, max = 40): string {
  const n = rng.int(0, max);
  let s = "";
  for (let i = 0; i < n; i++) {
    s += rng.weighted([
      [6, () => String.fromCharCode(rng.int(0x61, 0x7a))],
      [2, () => String.fromCharCode(rng.int(0x20, 0x7e))],
      [1, () => rng.pick(UNICODE)],
      [0.5, () => String.fromCharCode(rng.int(0, 0x1f))],
    ] as const)();
  }
  return s;
}

function hugeString(rng: Rng): string {
  return rng.pick(["x", "é", "😀", "\\"]).repeat(rng.pick([1000, 20_000, 70_000, 200_000]));
}

function randomJson(rng: Rng, depth = 0): unknown {
  const leaf = depth >= 4;
  return rng.weighted([
    [2, () => rng.int(-1e6, 1e6)],
    [1, () => rng.pick([0, -0, 1.5, 1e308, -1e-308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER])],
    [2, () => junkString(rng)],
    [1, () => rng.pick([true, false, null])],
    [leaf ? 0 : 1.5, () => Array.from({ length: rng.int(0, 5) }, () => randomJson(rng, depth + 1))],
    [
      leaf ? 0 : 1.5,
      () =>
        Object.fromEntries(
          Array.from({ length: rng.int(0, 5) }, () => [
            rng.pick(["a", "widget_sn", "slots", "port", "block", "__proto__", junkString(rng, 8)]),
            randomJson(rng, depth + 1),
          ]),
        ),
    ],
  ] as const)();
}

const PORT_VALUES = ["P", "R", "Q", "p", "X", "", "PP", null, 1, ["P"]];

/** A body that is valid or nearly valid for the route (the interesting cases are close to valid). */
function routeBody(rng: Rng, path: string): unknown {
  const sn = () =>
    rng.weighted([
      [5, `f${rng.int(0, 50)}`],
      [1, junkString(rng, 10)],
      [0.5, "s".repeat(rng.pick([128, 129, 1000]))],
      [0.5, rng.int(0, 9)],
      [0.3, null],
    ] as const);
  if (path.includes("add_widget"))
    return {
      widget_sn: sn(),
      ...(rng.chance(0.8) ? { widget_name: rng.chance(0.9) ? junkString(rng, 20) : "n".repeat(rng.pick([256, 257])) } : { name: "alias" }),
      slots: rng.chance(0.85)
        ? Array.from({ length: rng.int(0, rng.chance(0.1) ? 6 : 3) }, () => rng.pick(PORT_VALUES))
        : randomJson(rng, 3),
    };
  if (path.includes("remove_widget")) return { widget_sn: sn() };
  if (path.includes("associate") || path.includes("remove_association"))
    return { widget1_sn: sn(), widget2_sn: sn(), port: rng.pick(PORT_VALUES) };
  if (path.includes("blockbynumber"))
    return {
      block: rng.pick([
        "latest",
        "earliest",
        "pending",
        "safe",
        "finalized",
        0,
        1,
        "0x1",
        "0x01",
        "1",
        -1,
        2 ** 64,
        "0xffffffffffffffffff",
        "banana",
        null,
        1.5,
      ]),
      txdetails: rng.pick([true, false, "yes", null]),
    };
  if (path.includes("txbyblockandindex"))
    return { block: rng.pick(["latest", 0, "0x0", "9999999", -3]), index: rng.pick([0, "0x0", "1", -1, "x", 2 ** 60]) };
  return randomJson(rng);
}

/** Mutations that keep the text close to JSON. */
function mutateJsonText(rng: Rng, text: string): string {
  return rng.weighted([
    [2, () => text.slice(0, rng.int(0, Math.max(0, text.length - 1)))], // truncated
    [1, () => text.replace(/"/, "")],
    [1, () => `${text},`],
    [1, () => text.replace(/:/, "::")],
    [1, () => `\ufeff${text}`],
    [1, () => text.replace(/[0-9]/, "NaN")],
    [1, () => `${text}${text}`],
    [1, () => text.replace(/"([^"]*)"/, '"$1\\u12"')], // bad escape
  ] as const)();
}

function nested(rng: Rng): string {
  const d = rng.pick([100, 1000, 10_000, 100_000]);
  return rng.chance(0.5) ? "[".repeat(d) + "]".repeat(d) : `${'{"a":'.repeat(d)}1${"}".repeat(d)}`;
}

/** A request body: bytes plus the content type it is sent with. */
function body(rng: Rng, path: string): Uint8Array {
  return rng.weighted([
    [5, () => enc.encode(JSON.stringify(routeBody(rng, path)))],
    [2, () => enc.encode(JSON.stringify(randomJson(rng)))],
    [2, () => enc.encode(mutateJsonText(rng, JSON.stringify(routeBody(rng, path))))],
    [0.6, () => enc.encode(nested(rng))],
    [0.6, () => enc.encode(JSON.stringify({ widget_sn: hugeString(rng), widget_name: "x", slots: [] }))],
    [
      0.8,
      () =>
        concat([
          enc.encode('{"widget_sn":"'),
          rng.pick([latin1("\xff\xfe"), latin1("\xc0\xaf"), latin1("\xed\xa0\x80"), rng.bytes(8)]),
          enc.encode('","widget_name":"x","slots":[]}'),
        ]),
    ],
    [0.5, () => rng.bytes(rng.int(1, 300))],
    [0.5, () => new Uint8Array(0)],
    [0.4, () => enc.encode(rng.pick(["null", "1", '"str"', "[]", "{}", "true", " ", "\n\n"]))],
  ] as const)();
}

// ---------------------------------------------------------------------------------------------
// HTTP requests (raw bytes)

/** Percent-encodes the UTF-8 bytes of s (unlike encodeURIComponent, never throws on a lone surrogate). */
function pct(s: string): string {
  return Array.from(enc.encode(s), (b) =>
    /[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`,
  ).join("");
}

const STD_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
const ODD_METHODS = ["PROPFIND", "get", "FOO", "CONNECT", "TRACE", "M-SEARCH", "G E T", "GET\x00", "X".repeat(300)];
const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "APPLICATION/JSON",
  "application/json; charset=latin1",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=xyz",
  "application/json, text/plain",
  "",
  "application/jsonx",
  "application/json-rpc",
];

function pathParam(rng: Rng, name: string): string {
  const generic = [
    "",
    "%00",
    "..%2F..%2Fetc%2Fpasswd",
    "%ZZ",
    "%C0%AF",
    "%FF%FE",
    "%ED%A0%80",
    "%F0%9F%98%80",
    pct(junkString(rng, 20)),
    "a".repeat(rng.pick([129, 5000])),
    "%2e%2e",
    "x;y",
    "x%20y",
  ];
  if (name === "number")
    return rng.pick([
      "0",
      "1",
      "12",
      String(rng.int(0, 1e6)),
      "-1",
      "1e3",
      "0x10",
      "99999999999999999999",
      "9007199254740993",
      "١٢",
      "01",
      ...generic,
    ]);
  if (name === "file")
    return rng.pick(["uPlot.min.js", "uPlot.min.css", "dashboard.js", "../../package.json", "%2e%2e%2fpackage.json", "....//", ...generic]);
  return rng.pick([`f${rng.int(0, 50)}`, "w1", ...generic]);
}

function query(rng: Rng): string {
  if (rng.chance(0.6)) return "";
  const parts = Array.from({ length: rng.int(1, 4) }, () =>
    rng.pick([
      `limit=${rng.pick(["1", "0", "-1", "1000", "1001", "abc", "1e3", "", "1.5", "99999999999999999999"])}`,
      `after=${rng.pick(["", "f1", "%FF", "%00", pct(junkString(rng, 10)), "z".repeat(300)])}`,
      "limit=1&limit=2",
      `${pct(junkString(rng, 6))}=${pct(junkString(rng, 6))}`,
      "%",
      "&&&",
    ]),
  );
  return `?${parts.join("&")}`;
}

function headerLines(rng: Rng, ct: string | null): string[] {
  const lines: string[] = [];
  if (ct !== null) lines.push(`Content-Type: ${ct}`);
  const n = rng.chance(0.8) ? rng.int(0, 3) : rng.int(20, 300);
  for (let i = 0; i < n; i++) {
    lines.push(
      rng.pick([
        `X-Junk-${i}: ${junkString(rng, 30).replace(/[\r\n]/g, "")}`,
        `Authorization: ${rng.pick(["Bearer", "Bearer x", "bearer  ", "Basic Zm9vOmJhcg==", "Bearer " + "t".repeat(5000)])}`,
        `X-Request-Id: ${rng.pick(["ok-1", "", "bad id", "é", "x".repeat(300)])}`,
        `Accept: ${rng.pick(["text/html", "*/*", "application/json", "text/event-stream", ""])}`,
        `X-Forwarded-For: ${rng.pick(["1.2.3.4", "::1", "junk", "1.1.1.1, 2.2.2.2"])}`,
        "Expect: 100-continue",
        `Accept-Encoding: ${rng.pick(["gzip", "br", "identity", "*"])}`,
        `Origin: ${rng.pick(["http://evil.example", "null"])}`,
        `Cookie: ${"c=1; ".repeat(rng.int(1, 50))}`,
      ]),
    );
  }
  if (rng.chance(0.03)) lines.push(`X-Giant: ${"g".repeat(rng.pick([8_000, 70_000, 300_000]))}`);
  if (rng.chance(0.02))
    lines.push("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==");
  if (rng.chance(0.02)) lines.push(`Bad Header Name: x`);
  if (rng.chance(0.02)) lines.push(`X-Bin: ${String.fromCharCode(...rng.bytes(10).filter((b) => b !== 10 && b !== 13))}`);
  return lines;
}

/** One HTTP request over the listed routes (or off them), mutated in every part. */
export function httpCase(rng: Rng, routes: Route[], index: number): HttpCase {
  const route = rng.chance(0.93) ? rng.pick(routes) : { path: `/${junkString(rng, 20).replace(/[\s?#]/g, "")}`, methods: ["GET"] };
  const method = rng.weighted([
    [75, rng.pick(route.methods).toUpperCase()],
    [15, rng.pick(STD_METHODS)],
    [10, rng.pick(ODD_METHODS)],
  ] as const);
  let path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => pathParam(rng, name));
  path += rng.weighted([
    [8, ""],
    [1, "/"],
    [0.5, "//"],
    [0.5, "/x"],
    [0.3, "#frag"],
    [0.3, "%"],
  ] as const);
  path += query(rng);
  const wantsBody = method !== "GET" && method !== "HEAD" ? rng.chance(0.9) : rng.chance(0.1);
  const payload = wantsBody ? body(rng, route.path) : null;
  const ct = payload ? (rng.chance(0.8) ? "application/json" : rng.pick(CONTENT_TYPES)) : rng.chance(0.1) ? rng.pick(CONTENT_TYPES) : null;
  const lines = headerLines(rng, ct);
  let incomplete = false;
  let bodyBytes: Uint8Array = new Uint8Array(0);
  if (payload) {
    const framing = rng.weighted([
      [10, "length"],
      [2, "chunked"],
      [0.6, "short"],
      [0.4, "long"],
      [0.3, "badchunk"],
      [0.3, "both"],
    ] as const);
    if (framing === "length" || framing === "short" || framing === "long" || framing === "both") {
      const declared =
        framing === "short"
          ? Math.max(0, payload.length - rng.int(1, 10))
          : framing === "long"
            ? payload.length + rng.int(1, 100)
            : payload.length;
      lines.push(`Content-Length: ${declared}`);
      if (framing === "both") lines.push("Transfer-Encoding: chunked");
      if (framing === "long") incomplete = true;
      bodyBytes = payload;
    } else {
      lines.push("Transfer-Encoding: chunked");
      const chunks: Uint8Array[] = [];
      for (let o = 0; o < payload.length; ) {
        const n = Math.min(payload.length - o, rng.int(1, 4096));
        chunks.push(enc.encode(`${n.toString(16)}\r\n`), payload.subarray(o, o + n), enc.encode("\r\n"));
        o += n;
      }
      if (framing === "badchunk") {
        chunks.push(enc.encode(rng.pick(["zz\r\n", "ffffffffffffffff\r\n", "5\r\nab\r\n", "-1\r\n"])));
        incomplete = true;
      } else chunks.push(enc.encode("0\r\n\r\n"));
      bodyBytes = concat(chunks);
    }
  }
  const version = rng.weighted([
    [30, "HTTP/1.1"],
    [1, "HTTP/1.0"],
    [0.3, "HTTP/2.0"],
    [0.3, "HTTP/9"],
    [0.2, ""],
  ] as const);
  const head = `${method} ${path} ${version}`.trimEnd();
  const headText = `${head}\r\n${rng.chance(0.97) ? "Host: 127.0.0.1\r\n" : ""}${lines.map((l) => `${l}\r\n`).join("")}Connection: close\r\n\r\n`;
  // Text with characters beyond Latin-1 (a unicode path or header) goes out as UTF-8.
  const headBytes = [...headText].some((ch) => ch.charCodeAt(0) > 0xff) ? enc.encode(headText) : latin1(headText);
  return {
    kind: "http",
    label: `#${index} ${method.slice(0, 20)} ${path.slice(0, 100)}${payload ? ` body ${payload.length} B` : ""}`,
    bytes: concat([headBytes, bodyBytes]),
    incomplete,
    rpc: false,
  };
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC

const RPC_METHODS = [
  "eth_chainId",
  "eth_blockNumber",
  "eth_gasPrice",
  "eth_getBlockByNumber",
  "eth_getBalance",
  "eth_call",
  "eth_getLogs",
  "eth_getTransactionByHash",
  "eth_getTransactionReceipt",
  "eth_sendRawTransaction",
  "eth_sendTransaction",
  "eth_sign",
  "eth_signTypedData_v4",
  "eth_subscribe",
  "eth_unsubscribe",
  "eth_newFilter",
  "eth_getFilterChanges",
  "net_version",
  "web3_clientVersion",
  "web3_sha3",
  "debug_traceTransaction",
  "anvil_mine",
  "evm_mine",
  "evm_revert",
  "personal_sign",
  "admin_peers",
  "foo",
  "",
  "eth_",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "eth_chainId ",
  "ETH_CHAINID",
];

function rpcParams(rng: Rng, method: string): unknown {
  const hash = `0x${"ab".repeat(32)}`;
  const sane: Record<string, unknown[][]> = {
    eth_getBlockByNumber: [
      ["latest", false],
      ["0x0", true],
      ["pending", false],
      ["0xffffffffffffffffff", false],
      [1, false],
      ["latest"],
      [],
    ],
    eth_getBalance: [
      ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "latest"],
      ["0x00", "latest"],
      ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", { blockHash: hash }],
    ],
    eth_call: [[{ to: "0x0000000000000000000000000000000000000001", data: "0x" }, "latest"], [{}, "latest"], [{ data: "0xzz" }]],
    eth_getLogs: [[{ fromBlock: "0x0", toBlock: "latest" }], [{ blockHash: hash }], [{ fromBlock: "latest", toBlock: "0x0" }]],
    eth_getTransactionByHash: [[hash], ["0x12"], [null]],
    eth_getTransactionReceipt: [[hash]],
    eth_sendRawTransaction: [["0xdeadbeef"], ["0x"], [""]],
    eth_subscribe: [
      ["newHeads"],
      ["logs", { address: "0x0000000000000000000000000000000000000001" }],
      ["newPendingTransactions"],
      ["syncing"],
      ["bogus"],
      [],
    ],
    eth_unsubscribe: [["0x1234"], [], [null]],
    web3_sha3: [["0x68656c6c6f"], ["nothex"]],
  };
  return rng.weighted([
    [6, () => (Object.hasOwn(sane, method) ? rng.pick(sane[method]!) : [])],
    [1, () => randomJson(rng)],
    [0.5, () => ({ a: 1 })],
    [0.3, () => Array.from({ length: rng.int(100, 5000) }, () => 0)],
  ] as const)();
}

function rpcId(rng: Rng): unknown {
  return rng.weighted([
    [8, rng.int(1, 1e6)],
    [2, `id-${junkString(rng, 8)}`],
    [1, rng.pick([null, 0, -1, 1.5, 1e308, "", true, false, {}, [], 2 ** 64, "x".repeat(2000)])],
    [1, undefined], // a notification
  ] as const);
}

function rpcCall(rng: Rng): Record<string, unknown> {
  const method = rng.chance(0.9) ? rng.pick(RPC_METHODS) : junkString(rng, 30);
  const call: Record<string, unknown> = {
    jsonrpc: rng.weighted([
      [20, "2.0"],
      [1, "1.0"],
      [0.5, 2],
      [0.5, undefined],
    ] as const),
    method,
    params: rpcParams(rng, method),
  };
  const id = rpcId(rng);
  if (id !== undefined) call.id = id;
  if (rng.chance(0.05)) delete call.method;
  if (rng.chance(0.03)) call.method = rng.pick([1, null, ["eth_chainId"], {}]);
  if (rng.chance(0.05)) delete call.params;
  return call;
}

/** A JSON-RPC message: a call, a batch (valid, mixed, empty, over the limit, nested) or broken text. */
export function rpcMessage(rng: Rng): string | Uint8Array {
  return rng.weighted([
    [10, () => JSON.stringify(rpcCall(rng))],
    [3, () => JSON.stringify(Array.from({ length: rng.int(1, 12) }, () => (rng.chance(0.85) ? rpcCall(rng) : randomJson(rng, 3))))],
    [0.5, () => "[]"],
    [
      0.3,
      () => JSON.stringify(Array.from({ length: rng.pick([1001, 1500]) }, (_, i) => ({ jsonrpc: "2.0", id: i, method: "eth_chainId" }))),
    ],
    [0.4, () => JSON.stringify([[{ jsonrpc: "2.0", id: 1, method: "eth_chainId" }]])],
    [0.5, () => JSON.stringify(Array.from({ length: rng.int(1, 5) }, () => ({ jsonrpc: "2.0", method: "eth_chainId" })))], // notifications only
    [2, () => mutateJsonText(rng, JSON.stringify(rpcCall(rng)))],
    [0.6, () => rng.pick(["", " ", "null", "1", '"x"', "{}", "[1,2,3]", "{", "]", "nul"])],
    [0.5, () => nested(rng)],
    [0.5, () => concat([enc.encode('{"jsonrpc":"2.0","id":1,"method":"'), latin1("\xff\xfe\xc0"), enc.encode('"}')])],
    [0.3, () => rng.bytes(rng.int(1, 200))],
    [
      0.3,
      () =>
        JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "eth_call",
          params: [{ data: `0x${"00".repeat(rng.pick([1000, 100_000]))}` }, "latest"],
        }),
    ],
  ] as const)();
}

/** POST /eth with a JSON-RPC body (mostly application/json; now and then another content type). */
export function ethCase(rng: Rng, index: number): HttpCase {
  const msg = rpcMessage(rng);
  const payload = typeof msg === "string" ? enc.encode(msg) : msg;
  const ct = rng.chance(0.92) ? "application/json" : rng.pick(CONTENT_TYPES);
  const head = latin1(
    `POST /eth HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${ct}\r\nContent-Length: ${payload.length}\r\nConnection: close\r\n\r\n`,
  );
  const text = typeof msg === "string" ? msg : `<${msg.length} bytes>`;
  return {
    kind: "http",
    label: `#${index} POST /eth ${text.slice(0, 120).replace(/\s+/g, " ")}`,
    bytes: concat([head, payload]),
    incomplete: false,
    rpc: true,
  };
}

export function wsCase(rng: Rng, index: number): WsCase {
  const messages = Array.from({ length: rng.chance(0.8) ? 1 : rng.int(2, 6) }, () => rpcMessage(rng));
  const first = messages[0]!;
  return {
    kind: "ws",
    label: `#${index} ws ${messages.length} msg: ${(typeof first === "string" ? first : `<${first.length} binary bytes>`).slice(0, 120)}`,
    path: rng.chance(0.5) ? "/eth" : "/socket2socket",
    messages,
  };
}

// ---------------------------------------------------------------------------------------------
// Relay netstrings

const ODD_META = [
  `<meta name="block-number" content="-1">`,
  `<meta name="block-number" content="1.5">`,
  `<meta name="block-number" content="0x10">`,
  `<meta name="block-number" content="1e3">`,
  `<meta name="block-number" content=" 12 ">`,
  `<meta name="block-number" content="">`,
  `<meta name="block-number" content="99999999999999999999">`,
  `<meta name="block-number" content="9007199254740993">`,
  `<META NAME="BLOCK-NUMBER" CONTENT="77">`,
  `<meta name='block-number' content='78'>`,
  `<meta content="79" name="block-number">`,
  `<meta name="block-number" content="80"><meta name="block-number" content="81">`,
  `<!-- <meta name="block-number" content="82"> -->`,
  `<meta name="block-number" content="١٢٣">`,
  `<meta name="block-number" content="83" <meta`,
  `<meta name="block-number" content="84"/><meta name="block-hash" content="not-a-hash">`,
  `<meta name="block-hash" content="0x${"ff".repeat(200)}"><meta name="block-number" content="85">`,
];

function relayFrame(rng: Rng): { bytes: Uint8Array; plain: boolean } {
  return rng.weighted([
    [5, () => ({ bytes: netstring(blockDoc(rng.int(0, 1_000_000), junkString(rng, 30))), plain: true })],
    [3, () => ({ bytes: netstring(`<html><head>${rng.pick(ODD_META)}</head><body>${junkString(rng, 20)}</body></html>`), plain: false })],
    [
      0.6,
      () => ({
        bytes: netstring(`<html><head>${" ".repeat(5000)}<meta name="block-number" content="${rng.int(0, 1e6)}"></head></html>`),
        plain: false,
      }),
    ],
    [1, () => ({ bytes: netstring(rng.bytes(rng.int(0, 2000))), plain: false })],
    [0.5, () => ({ bytes: netstring(""), plain: false })],
    [
      0.5,
      () => ({
        bytes: netstring(concat([enc.encode(`<meta name="block-number" content="${rng.int(0, 1e6)}">`), rng.bytes(100)])),
        plain: false,
      }),
    ],
  ] as const)();
}

/** A relay byte stream: well-formed frames (answers expected) or a malformed/incomplete one. */
export function relayCase(rng: Rng, index: number): RelayCase {
  const kind = rng.weighted([
    [4, "frames"],
    [1, "split"],
    [1, "halfclose"],
    [3, "malformed"],
    [0.7, "incomplete"],
    [0.04, "max"],
  ] as const);
  if (kind === "frames" || kind === "split" || kind === "halfclose") {
    const frames = Array.from({ length: kind === "frames" ? rng.int(1, 12) : 1 }, () => relayFrame(rng));
    const all = concat(frames.map((f) => f.bytes));
    const chunks: Uint8Array[] = [];
    if (kind === "split") for (let o = 0; o < all.length; ) chunks.push(all.subarray(o, (o += rng.int(1, 7))));
    else chunks.push(all);
    return {
      kind: "relay",
      label: `#${index} relay ${kind}: ${frames.length} frame(s), ${all.length} B`,
      chunks,
      expect: frames.length,
      mustStore: frames.every((f) => f.plain),
      halfClose: kind === "halfclose",
    };
  }
  if (kind === "max") {
    const doc = enc.encode(blockDoc(rng.int(0, 1e6), ""));
    const payload = new Uint8Array(1_048_576).fill(0x20);
    payload.set(doc);
    return {
      kind: "relay",
      label: `#${index} relay: a 1 MiB frame (the limit)`,
      chunks: [netstring(payload)],
      expect: 1,
      mustStore: false,
      halfClose: false,
    };
  }
  const good = rng.chance(0.5) ? [relayFrame(rng).bytes] : [];
  const bad =
    kind === "incomplete"
      ? rng.pick([enc.encode(`${rng.int(100, 100_000)}:abc`), enc.encode("12"), enc.encode("1048576:"), enc.encode(`5:ab`)])
      : rng.pick([
          enc.encode("01:a,"),
          enc.encode("-1:,"),
          enc.encode(":abc,"),
          enc.encode("abc"),
          enc.encode("5:abc,"),
          enc.encode("3:abcX"),
          enc.encode("99999999999:"),
          enc.encode("1048577:"),
          enc.encode(`${"9".repeat(40)}:`),
          enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
          latin1("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
          new Uint8Array(rng.int(1, 50)),
          rng.bytes(rng.int(1, 500)),
          enc.encode(" 3:abc,"),
          enc.encode("3 :abc,"),
          enc.encode("3:abc;"),
        ]);
  return {
    kind: "relay",
    label: `#${index} relay ${kind}: ${JSON.stringify(new TextDecoder().decode(bad.subarray(0, 40)))}`,
    chunks: [...good, bad],
    expect: null,
    mustStore: false,
    halfClose: false,
  };
}

export function describeBytes(b: Uint8Array, max = 300): string {
  return JSON.stringify(new TextDecoder("latin1").decode(b.subarray(0, max))) + (b.length > max ? `…(${b.length} bytes)` : "");
}
