// Configuration: one pure function from an environment map to a validated, typed Config.
// Only src/runtime/bun/main.ts passes the real environment and decides what a failure means.
import { z } from "zod";
import { parseCidr, type Cidr } from "./limits/client-ip.ts";
import { parseRate, type RateRule } from "./limits/rate.ts";

export class ConfigError extends Error {
  override name = "ConfigError" as const;
  constructor(
    readonly variable: string,
    readonly problem: string,
  ) {
    super(`${variable}: ${problem}`);
  }
}

const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const intIn = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const url = (protocols: readonly string[]) =>
  z.string().transform((raw, ctx) => {
    const list = raw
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    for (const [i, item] of list.entries()) {
      let u: URL;
      try {
        u = new URL(item);
      } catch {
        ctx.addIssue({ code: "custom", message: list.length > 1 ? `item ${i + 1} is not a valid URL` : "not a valid URL" });
        return z.NEVER;
      }
      if (!protocols.includes(u.protocol)) {
        ctx.addIssue({ code: "custom", message: `scheme must be one of ${protocols.join(" ")}` });
        return z.NEVER;
      }
    }
    return list;
  });

const hostPort = z.string().transform((raw, ctx) => {
  const out: { host: string; port: number }[] = [];
  for (const item of raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(item);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) {
      ctx.addIssue({ code: "custom", message: `"${item}" is not host:port` });
      return z.NEVER;
    }
    out.push({ host: m[1]!.replace(/^\[|\]$/g, ""), port });
  }
  return out;
});

/** One URL of these schemes (kept whole: it may carry a password, which is never shown). */
const singleUrl = (protocols: readonly string[]) =>
  z.string().transform((raw, ctx) => {
    let u: URL;
    try {
      u = new URL(raw.trim());
    } catch {
      ctx.addIssue({ code: "custom", message: "not a valid URL" });
      return z.NEVER;
    }
    if (!protocols.includes(u.protocol)) {
      ctx.addIssue({ code: "custom", message: `scheme must be one of ${protocols.join(" ")}` });
      return z.NEVER;
    }
    return raw.trim();
  });

const rate = z.string().transform((raw, ctx) => {
  try {
    return parseRate(raw);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return z.NEVER;
  }
});

const cidrs = z.string().transform((raw, ctx) => {
  const out: Cidr[] = [];
  for (const item of raw
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean)) {
    try {
      out.push(parseCidr(item));
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
      return z.NEVER;
    }
  }
  return out;
});

/** Comma-separated method names or globs (`eth_signTypedData*`); `none` is the empty list. */
const methodGlobs = z.string().transform((raw, ctx) => {
  if (raw.trim() === "none") return [];
  const list = raw
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
  const bad = list.find((m) => !/^[A-Za-z0-9_*]+$/.test(m));
  if (bad !== undefined) {
    ctx.addIssue({ code: "custom", message: `"${bad}" is not a method name or glob (letters, digits, _ and *)` });
    return z.NEVER;
  }
  return list;
});

/** Methods that make the upstream node sign with its own keys (docs/security.md default deny list). */
export const DEFAULT_METHODS_DENY = "eth_sendTransaction,eth_sign,eth_signTransaction,eth_signTypedData*";

/** Field name → variable name, so an error can name the variable exactly. */
const schema = z.object({
  PEXD_HOST: z.string().trim().min(1, "must not be empty").default("127.0.0.1"),
  PEXD_PORT: intIn(0, 65535).default(8081),
  PEXD_DATA_DIR: z.string().trim().min(1, "must not be empty").default("./data"),
  PEXD_LOG_LEVEL: z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(", ")}` }).default("info"),
  PEXD_FIB_FLUSH_MS: intIn(0, 3_600_000).default(0),
  PEXD_ETH_HTTP_URL: url(["http:", "https:"]).optional(),
  PEXD_ETH_WS_URL: url(["ws:", "wss:"]).optional(),
  INFURA_PROJECT_ID: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9]+$/, "must be alphanumeric")
    .optional(),
  INFURA_PROJECT_SECRET: z.string().trim().min(1).optional(),
  INFURA_NETWORK: z
    .string()
    .trim()
    .regex(/^[a-z0-9-]+$/, "must be a network name such as mainnet or sepolia")
    .default("mainnet"),
  PEXD_ETH_CACHE_TTL_MS: intIn(0, 86_400_000).default(2000),
  PEXD_ETH_CACHE_MAX_BYTES: intIn(0, 2 ** 40).default(67_108_864),
  PEXD_ETH_FINALITY_DEPTH: intIn(0, 1_000_000).default(64),
  PEXD_ETH_TIMEOUT_MS: intIn(1, 600_000).default(10_000),
  PEXD_RELAY_PORT: intIn(0, 65535).default(0),
  PEXD_RELAY_TARGETS: hostPort.optional(),
  PEXD_API_TOKEN: z.string().min(1).optional(),
  PEXD_RATE_LIMIT: rate.optional(),
  PEXD_TRUSTED_PROXIES: cidrs.optional(),
  PEXD_ETH_METHODS_DENY: methodGlobs.default(DEFAULT_METHODS_DENY.split(",")),
  PEXD_ETH_METHODS_ALLOW: methodGlobs.optional(),
  PEXD_ETH_MAX_BODY_BYTES: intIn(1024, 1 << 30).default(5_242_880),
  PEXD_ETH_MAX_BATCH: intIn(1, 100_000).default(1000),
  PEXD_ETH_UPSTREAM_RATE: rate.optional(),
  PEXD_ETH_MAX_UPSTREAM_SUBSCRIPTIONS: intIn(1, 1_000_000).default(1000),
  PEXD_WS_MAX_CONNECTIONS_PER_IP: intIn(1, 1_000_000).default(64),
  PEXD_RELAY_MAX_CONNECTIONS_PER_IP: intIn(1, 1_000_000).default(32),
  PEXD_SYNC: z.enum(["normal", "full"], { message: "must be normal or full" }).default("normal"),
  PEXD_DATABASE_URL: singleUrl(["postgres:", "postgresql:"]).optional(),
  PEXD_REDIS_URL: singleUrl(["redis:", "rediss:"]).optional(),
});

/** Variables whose values may carry a secret: never echoed, not even when malformed. */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set([
  "PEXD_ETH_HTTP_URL",
  "PEXD_ETH_WS_URL",
  "INFURA_PROJECT_ID",
  "INFURA_PROJECT_SECRET",
  "INFURA_NETWORK",
  "PEXD_API_TOKEN",
  "PEXD_DATABASE_URL",
  "PEXD_REDIS_URL",
]);

export const CONFIG_VARIABLES = Object.keys(schema.shape) as (keyof typeof schema.shape)[];

export interface Upstream {
  /** URL without credentials: safe to log and to use as a metric label. */
  readonly label: string;
  readonly url: string;
  /** `Authorization` header value (Infura secret as basic auth); never logged. */
  readonly authorization?: string;
}

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  logLevel: LogLevel;
  fibFlushMs: number;
  /** SQLite synchronous: normal survives a process crash, full also a power loss. */
  sync: "normal" | "full";
  eth: {
    http: Upstream[];
    ws: Upstream[];
    cacheTtlMs: number;
    cacheMaxBytes: number;
    finalityDepth: number;
    timeoutMs: number;
    /** Method names or globs refused (-32601), and — when set — the only ones that pass. */
    methods: { deny: string[]; allow?: string[] };
    /** POST /eth body and client WebSocket message limit. */
    maxBodyBytes: number;
    maxBatch: number;
    /** Calls per upstream (each URL); off when undefined. */
    upstreamRate?: RateRule;
    /** Distinct upstream subscriptions held at most (identical client subscriptions share one). */
    maxUpstreamSubscriptions: number;
  };
  relay: { port: number; targets: { host: string; port: number }[]; maxConnectionsPerIp: number };
  apiToken?: string;
  /** postgres://…: every store on PostgreSQL (instances share it) instead of SQLite under dataDir. */
  databaseUrl?: string;
  /** redis://…: the gateway's shared second-level cache and the shared rate-limit buckets. */
  redisUrl?: string;
  limits: {
    /** Per client: HTTP requests, JSON-RPC calls and client WebSocket messages; off when undefined. */
    rate?: RateRule;
    /** Peers whose X-Forwarded-For names the client. */
    trustedProxies: Cidr[];
    wsConnectionsPerIp: number;
  };
}

/** Reduces a URL to scheme, host and port so it can be logged: keys hide in paths and queries. */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname.length > 1 || u.search ? "/…" : ""}`;
  } catch {
    return "<invalid url>";
  }
}

function upstream(raw: string, authorization?: string): Upstream {
  const u = new URL(raw);
  let auth = authorization;
  if (!auth && (u.username || u.password)) {
    auth = `Basic ${btoa(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`)}`;
    u.username = "";
    u.password = "";
  }
  return { label: redactUrl(raw), url: u.toString(), ...(auth ? { authorization: auth } : {}) };
}

export function parseConfig(env: Record<string, string | undefined>): Config {
  // Empty strings count as unset, as they do in systemd EnvironmentFile= and shell exports.
  const input: Record<string, string> = {};
  for (const key of CONFIG_VARIABLES) {
    const v = env[key];
    if (v !== undefined && v.trim() !== "") input[key] = v;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? "environment");
    const problem = SECRET_VARIABLES.has(variable)
      ? `${issue.message} (value not shown: it may hold a secret)`
      : `${issue.message} (got ${JSON.stringify(input[variable]?.slice(0, 80))})`;
    throw new ConfigError(variable, problem);
  }
  const e = parsed.data;
  if (e.PEXD_DATABASE_URL && e.PEXD_FIB_FLUSH_MS > 0) {
    throw new ConfigError(
      "PEXD_FIB_FLUSH_MS",
      "must be 0 with PEXD_DATABASE_URL: instances sharing a database commit every step before answering",
    );
  }
  if (e.INFURA_PROJECT_SECRET && !e.INFURA_PROJECT_ID) {
    throw new ConfigError("INFURA_PROJECT_ID", "required when INFURA_PROJECT_SECRET is set");
  }
  let http = (e.PEXD_ETH_HTTP_URL ?? []).map((u) => upstream(u));
  let ws = (e.PEXD_ETH_WS_URL ?? []).map((u) => upstream(u));
  if (e.INFURA_PROJECT_ID && !e.PEXD_ETH_HTTP_URL && !e.PEXD_ETH_WS_URL) {
    const auth = e.INFURA_PROJECT_SECRET ? `Basic ${btoa(`:${e.INFURA_PROJECT_SECRET}`)}` : undefined;
    const net = e.INFURA_NETWORK;
    http = [upstream(`https://${net}.infura.io/v3/${e.INFURA_PROJECT_ID}`, auth)];
    ws = [upstream(`wss://${net}.infura.io/ws/v3/${e.INFURA_PROJECT_ID}`, auth)];
  }
  return {
    host: e.PEXD_HOST,
    port: e.PEXD_PORT,
    dataDir: e.PEXD_DATA_DIR,
    logLevel: e.PEXD_LOG_LEVEL,
    fibFlushMs: e.PEXD_FIB_FLUSH_MS,
    sync: e.PEXD_SYNC,
    eth: {
      http,
      ws,
      cacheTtlMs: e.PEXD_ETH_CACHE_TTL_MS,
      cacheMaxBytes: e.PEXD_ETH_CACHE_MAX_BYTES,
      finalityDepth: e.PEXD_ETH_FINALITY_DEPTH,
      timeoutMs: e.PEXD_ETH_TIMEOUT_MS,
      methods: { deny: e.PEXD_ETH_METHODS_DENY, ...(e.PEXD_ETH_METHODS_ALLOW ? { allow: e.PEXD_ETH_METHODS_ALLOW } : {}) },
      maxBodyBytes: e.PEXD_ETH_MAX_BODY_BYTES,
      maxBatch: e.PEXD_ETH_MAX_BATCH,
      ...(e.PEXD_ETH_UPSTREAM_RATE ? { upstreamRate: e.PEXD_ETH_UPSTREAM_RATE } : {}),
      maxUpstreamSubscriptions: e.PEXD_ETH_MAX_UPSTREAM_SUBSCRIPTIONS,
    },
    relay: {
      port: e.PEXD_RELAY_PORT,
      targets: e.PEXD_RELAY_TARGETS ?? [],
      maxConnectionsPerIp: e.PEXD_RELAY_MAX_CONNECTIONS_PER_IP,
    },
    ...(e.PEXD_API_TOKEN ? { apiToken: e.PEXD_API_TOKEN } : {}),
    ...(e.PEXD_DATABASE_URL ? { databaseUrl: e.PEXD_DATABASE_URL } : {}),
    ...(e.PEXD_REDIS_URL ? { redisUrl: e.PEXD_REDIS_URL } : {}),
    limits: {
      ...(e.PEXD_RATE_LIMIT ? { rate: e.PEXD_RATE_LIMIT } : {}),
      trustedProxies: e.PEXD_TRUSTED_PROXIES ?? [],
      wsConnectionsPerIp: e.PEXD_WS_MAX_CONNECTIONS_PER_IP,
    },
  };
}
