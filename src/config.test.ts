import { describe, expect, test } from "bun:test";
import { CONFIG_VARIABLES, ConfigError, parseConfig } from "./config.ts";

describe("parseConfig", () => {
  test("defaults are exactly the contract's", () => {
    const c = parseConfig({});
    expect(c).toEqual({
      host: "127.0.0.1",
      port: 8081,
      dataDir: "./data",
      logLevel: "info",
      fibFlushMs: 0,
      sync: "normal",
      eth: {
        http: [],
        ws: [],
        cacheTtlMs: 2000,
        cacheMaxBytes: 67108864,
        finalityDepth: 64,
        timeoutMs: 10000,
        methods: { deny: ["eth_sendTransaction", "eth_sign", "eth_signTransaction", "eth_signTypedData*"] },
        maxBodyBytes: 5242880,
        maxBatch: 1000,
        maxUpstreamSubscriptions: 1000,
      },
      relay: { port: 0, targets: [], maxConnectionsPerIp: 32 },
      limits: { trustedProxies: [], wsConnectionsPerIp: 64 },
    });
  });

  test("every documented variable is known", () => {
    for (const v of [
      "PEXD_HOST",
      "PEXD_PORT",
      "PEXD_DATA_DIR",
      "PEXD_LOG_LEVEL",
      "PEXD_FIB_FLUSH_MS",
      "PEXD_ETH_HTTP_URL",
      "PEXD_ETH_WS_URL",
      "INFURA_PROJECT_ID",
      "INFURA_PROJECT_SECRET",
      "INFURA_NETWORK",
      "PEXD_ETH_CACHE_TTL_MS",
      "PEXD_ETH_CACHE_MAX_BYTES",
      "PEXD_ETH_FINALITY_DEPTH",
      "PEXD_ETH_TIMEOUT_MS",
      "PEXD_RELAY_PORT",
      "PEXD_RELAY_TARGETS",
      "PEXD_API_TOKEN",
    ])
      expect(CONFIG_VARIABLES).toContain(v as (typeof CONFIG_VARIABLES)[number]);
  });

  test.each([
    ["PEXD_PORT", "80a"],
    ["PEXD_PORT", "70000"],
    ["PEXD_LOG_LEVEL", "verbose"],
    ["PEXD_FIB_FLUSH_MS", "-1"],
    ["PEXD_ETH_HTTP_URL", "ftp://x"],
    ["PEXD_ETH_WS_URL", "http://x"],
    ["PEXD_RELAY_TARGETS", "host-without-port"],
    ["PEXD_ETH_CACHE_MAX_BYTES", "lots"],
  ])("%s=%s is refused, naming the variable", (variable, value) => {
    let err: unknown;
    try {
      parseConfig({ [variable]: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe(variable);
    expect((err as ConfigError).message.startsWith(`${variable}: `)).toBe(true);
    expect((err as ConfigError).message).not.toContain("\n");
  });

  test("lists and host:port targets are parsed", () => {
    const c = parseConfig({
      PEXD_ETH_HTTP_URL: "http://a:8545, https://b.example/rpc",
      PEXD_RELAY_TARGETS: "10.0.0.1:9000,relay.example:9001,[::1]:9002",
      PEXD_PORT: "0",
    });
    expect(c.eth.http.map((u) => u.url)).toEqual(["http://a:8545/", "https://b.example/rpc"]);
    expect(c.relay.targets).toEqual([
      { host: "10.0.0.1", port: 9000 },
      { host: "relay.example", port: 9001 },
      { host: "::1", port: 9002 },
    ]);
    expect(c.port).toBe(0);
  });

  test("Infura shortcut builds both URLs; the secret is only in the Authorization value", () => {
    const c = parseConfig({ INFURA_PROJECT_ID: "abc123", INFURA_PROJECT_SECRET: "s3cr3t", INFURA_NETWORK: "sepolia" });
    expect(c.eth.http[0]!.url).toBe("https://sepolia.infura.io/v3/abc123");
    expect(c.eth.ws[0]!.url).toBe("wss://sepolia.infura.io/ws/v3/abc123");
    expect(c.eth.http[0]!.authorization).toBe(`Basic ${btoa(":s3cr3t")}`);
    expect(JSON.stringify(c.eth.http.map((u) => u.label))).not.toContain("s3cr3t");
    expect(JSON.stringify(c.eth.http.map((u) => u.label))).not.toContain("abc123");
  });

  test("credentials in a URL move to the Authorization value and out of the label", () => {
    const c = parseConfig({ PEXD_ETH_HTTP_URL: "https://user:pa55@node.example/key123/x" });
    expect(c.eth.http[0]!.url).toBe("https://node.example/key123/x");
    expect(c.eth.http[0]!.authorization).toBe(`Basic ${btoa("user:pa55")}`);
    expect(c.eth.http[0]!.label).not.toContain("pa55");
    expect(c.eth.http[0]!.label).not.toContain("key123");
  });

  test("a bad secret is named but not echoed", () => {
    expect(() => parseConfig({ INFURA_PROJECT_SECRET: "hunter2" })).toThrow("INFURA_PROJECT_ID");
    try {
      parseConfig({ PEXD_ETH_HTTP_URL: "https://u:hunter2@x.example/a/b,nope" });
    } catch (e) {
      expect(String(e)).not.toContain("hunter2");
    }
  });

  test("empty values count as unset", () => {
    expect(parseConfig({ PEXD_PORT: "", PEXD_ETH_HTTP_URL: " " }).port).toBe(8081);
  });
});

describe("safe-edge variables", () => {
  test("rate limit, proxies, method lists, body and batch limits parse", () => {
    const c = parseConfig({
      PEXD_RATE_LIMIT: "100/s,burst=200",
      PEXD_TRUSTED_PROXIES: "127.0.0.1/32, ::1",
      PEXD_ETH_METHODS_DENY: "none",
      PEXD_ETH_METHODS_ALLOW: "eth_*,net_version",
      PEXD_ETH_MAX_BODY_BYTES: "1048576",
      PEXD_ETH_MAX_BATCH: "50",
    });
    expect(c.limits.rate).toMatchObject({ burst: 200 });
    expect(c.limits.trustedProxies.map((p) => p.text)).toEqual(["127.0.0.1/32", "::1"]);
    expect(c.eth.methods).toEqual({ deny: [], allow: ["eth_*", "net_version"] });
    expect(c.eth.maxBodyBytes).toBe(1048576);
    expect(c.eth.maxBatch).toBe(50);
  });

  test.each([
    ["PEXD_RATE_LIMIT", "lots"],
    ["PEXD_TRUSTED_PROXIES", "10.0.0.0/99"],
    ["PEXD_ETH_METHODS_DENY", "eth_send(.*)"],
    ["PEXD_ETH_MAX_BODY_BYTES", "10"],
    ["PEXD_ETH_MAX_BATCH", "0"],
  ])("%s=%s is refused, naming the variable", (variable, value) => {
    expect(() => parseConfig({ [variable]: value })).toThrow(new RegExp(`^${variable}: `));
  });

  test.each([
    ["PEXD_ETH_HTTP_URL", "https//user:pw@host/v3/KEY"],
    ["PEXD_ETH_WS_URL", "http://user:pw@host/ws/KEY"],
    ["INFURA_PROJECT_ID", "KEY$with-bad-chars"],
    ["INFURA_NETWORK", "Bad Network KEY"],
  ])("a malformed secret-bearing %s is never echoed", (variable, value) => {
    let message = "";
    try {
      parseConfig({ [variable]: value });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message.startsWith(`${variable}: `)).toBe(true);
    for (const part of ["pw", "KEY", "user"]) expect(message).not.toContain(part);
  });
});
