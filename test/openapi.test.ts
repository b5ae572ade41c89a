// The OpenAPI document as client generators see it (issue 16): Redocly's recommended ruleset finds
// no error; openapi-typescript turns it into types the project's tsc accepts under --strict; every
// operation has a stable, unique camelCase operationId; exactly the routes that answer 401 without
// the token (PEXD_API_TOKEN set) carry the bearer security requirement, and document 401 and 500.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createConfig, lintFromString } from "@redocly/openapi-core";
import openapiTS from "openapi-typescript";
import { compose } from "../src/compose.ts";
import { parseConfig } from "../src/config.ts";
import { silentLogger } from "../src/log.ts";
import { memoryRuntime } from "../src/runtime/memory.ts";

type Operation = { operationId?: string; security?: Record<string, string[]>[]; responses?: Record<string, unknown> };
type Doc = {
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes?: Record<string, { description?: string }> };
  security?: unknown;
  servers?: unknown;
};

const METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);
const TSC = resolve(import.meta.dir, "../node_modules/.bin/tsc");

/** Every operation as ["METHOD /path", operation]. */
const operations = (doc: Doc): [string, Operation][] =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([m]) => METHODS.has(m))
      .map(([m, op]): [string, Operation] => [`${m.toUpperCase()} ${path}`, op]),
  );

/** What is wrong with the operationIds: missing, not camelCase, or used twice. */
function operationIdProblems(doc: Doc): string[] {
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const [op, o] of operations(doc)) {
    const id = o.operationId;
    if (!id) problems.push(`${op}: no operationId`);
    else if (!/^[a-z][a-zA-Z0-9]*$/.test(id)) problems.push(`${op}: operationId ${id} is not camelCase`);
    else if (seen.has(id)) problems.push(`${op}: operationId ${id} is also ${seen.get(id)}'s`);
    else seen.set(id, op);
  }
  return problems;
}

/**
 * What is wrong with the security requirements, given the operations that the running app protects:
 * a protected one without the bearer requirement (or without 401), a public one with it.
 */
function securityProblems(doc: Doc, protectedOps: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const [op, o] of operations(doc)) {
    const bearer = (o.security ?? []).some((r) => "bearer" in r);
    if (protectedOps.has(op) && !bearer) problems.push(`${op}: answers 401 without the token but has no bearer security requirement`);
    if (protectedOps.has(op) && !o.responses?.["401"]) problems.push(`${op}: answers 401 but does not document it`);
    if (!protectedOps.has(op) && bearer) problems.push(`${op}: requires no token but lists the bearer security requirement`);
  }
  if (!doc.components.securitySchemes?.bearer) problems.push("no bearer security scheme");
  return problems;
}

/** The operationIds clients are generated with: renaming one breaks them. */
const PINNED: Record<string, string> = {
  "GET /": "getRoot",
  "GET /openapi.json": "getOpenApiDocument",
  "GET /health": "getHealth",
  "GET /ready": "getReadiness",
  "GET /current": "getCurrent",
  "POST /next": "next",
  "GET /next": "nextViaGet",
  "POST /previous": "previous",
  "GET /previous": "previousViaGet",
  "POST /reset": "reset",
  "GET /reset": "resetViaGet",
  "POST /rpc/add_widget": "addWidget",
  "POST /rpc/remove_widget": "removeWidget",
  "POST /rpc/associate_widgets": "associateWidgets",
  "POST /rpc/remove_association": "removeAssociation",
  "GET /widgets/{sn}": "getWidget",
  "GET /widgets": "listWidgets",
  "GET /blocknumber": "getBlockNumber",
  "GET /gasprice": "getGasPrice",
  "GET /eth_blockNumber": "ethBlockNumber",
  "GET /eth_gasPrice": "ethGasPrice",
  "GET /eth_coinbase": "ethCoinbase",
  "GET /eth_chainId": "ethChainId",
  "POST /blockbynumber": "getBlockByNumber",
  "POST /txbyblockandindex": "getTxByBlockAndIndex",
  "POST /eth": "ethRpc",
  "GET /eth": "ethWebSocket",
  "GET /socket2socket": "socket2socketWebSocket",
  "GET /ws/blocknumber": "wsGetBlockNumber",
  "GET /ws/gasprice": "wsGetGasPrice",
  "GET /ws/eth_blockNumber": "wsEthBlockNumber",
  "GET /ws/eth_gasPrice": "wsEthGasPrice",
  "GET /ws/eth_coinbase": "wsEthCoinbase",
  "GET /ws/eth_chainId": "wsEthChainId",
  "POST /ws/blockbynumber": "wsGetBlockByNumber",
  "POST /ws/txbyblockandindex": "wsGetTxByBlockAndIndex",
  "GET /stats": "relayStats",
  "GET /stats/clients": "relayStatsClients",
  "GET /stats/blocks": "relayStatsBlocks",
  "GET /stats/blocks/{number}": "relayStatsBlock",
  "GET /metrics": "getMetrics",
  "GET /dashboard": "getDashboard",
  "GET /dashboard/stream": "streamDashboard",
  "GET /dashboard/assets/{file}": "getDashboardAsset",
};

/** tsc (the project's) over `files` in `dir`, strict; its exit code and output. */
function tsc(dir: string, files: string[]): { code: number; output: string } {
  const r = Bun.spawnSync(
    [
      TSC,
      "--noEmit",
      "--strict",
      "--noUncheckedIndexedAccess",
      "--exactOptionalPropertyTypes",
      "--target",
      "ES2023",
      "--module",
      "preserve",
      "--moduleResolution",
      "bundler",
      ...files,
    ],
    { cwd: dir, stdout: "pipe", stderr: "pipe" },
  );
  return { code: r.exitCode ?? -1, output: `${r.stdout.toString()}${r.stderr.toString()}` };
}

// The generated types in use, as a client would: the counter's state, an operation by its id, a
// request body, the shared error body and the 429's Retry-After. Each @ts-expect-error fails the
// check if the types got looser (an `any` would accept the wrong use).
const USAGE = `import type { components, operations, paths } from "./schema";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same = <A, B>(check: Equal<A, B>): Equal<A, B> => check;

type Json<R> = R extends { content: { "application/json": infer B } } ? B : never;
type GetPaths = { [P in keyof paths]: paths[P] extends { get: { responses: { 200: unknown } } } ? P : never }[keyof paths];
/** An openapi-fetch-style typed GET: the 200 body of a path, inferred from the generated paths. */
type Get = <P extends GetPaths>(path: P) => Promise<paths[P] extends { get: { responses: { 200: infer R } } } ? Json<R> : never>;

type State = paths["/current"]["get"]["responses"][200]["content"]["application/json"];
same<State["index"], number>(true);
same<State["value"], string>(true);
same<Json<operations["next"]["responses"][200]>, State>(true);
same<Json<operations["nextViaGet"]["responses"][200]>, State>(true);

type ErrorBody = components["schemas"]["Error"];
same<ErrorBody, { code: string; message: string; details: string | null; hint: string | null }>(true);
same<Json<operations["addWidget"]["responses"][401]>, ErrorBody>(true);
same<Json<operations["getCurrent"]["responses"][500]>, ErrorBody>(true);
same<operations["getCurrent"]["responses"][429]["headers"]["Retry-After"], number>(true);

export async function use(get: Get): Promise<string> {
  const state = await get("/current");
  const health = await get("/health");
  const body: operations["addWidget"]["requestBody"]["content"]["application/json"] = { widget_sn: "a", widget_name: "b", slots: ["P"] };
  // @ts-expect-error the state has no such field
  const wrong: string = state.nope;
  // @ts-expect-error widget_sn is required
  const noSn: paths["/rpc/add_widget"]["post"]["requestBody"]["content"]["application/json"] = { widget_name: "b", slots: [] };
  // @ts-expect-error no operation has this id
  type Missing = operations["noSuchOperation"];
  return \`\${state.index + 1} \${state.value.length} \${health.status} \${body.widget_sn} \${wrong} \${noSn.slots.length}\`;
}
`;

describe("the OpenAPI document", async () => {
  const c = await compose(parseConfig({ PEXD_API_TOKEN: "openapi-test-token" }), memoryRuntime(), {
    log: silentLogger,
    version: "0.0.0-test",
  });
  const text = await (await c.app.request("/openapi.json")).text();
  const doc = JSON.parse(text) as Doc;
  const dir = mkdtempSync(join(tmpdir(), "pexd-openapi-"));
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await c.close();
  });

  test("Redocly's recommended ruleset: no error (warnings printed)", async () => {
    const config = await createConfig({ extends: ["recommended"] });
    const lint = async (source: string) => {
      const problems = await lintFromString({ source, absoluteRef: join(dir, "openapi.json"), config });
      const render = (p: (typeof problems)[number]) => `${p.ruleId}: ${p.message} (${p.location[0]?.pointer ?? "?"})`;
      return {
        errors: problems.filter((p) => p.severity === "error").map(render),
        warnings: problems.filter((p) => p.severity === "warn").map(render),
      };
    };
    const { errors, warnings } = await lint(text);
    if (warnings.length) console.warn(`Redocly recommended: ${warnings.length} warning(s)\n  ${warnings.join("\n  ")}`);
    expect(errors).toEqual([]);
    // The ruleset is live: without servers and the root security, the document fails it.
    const { servers: _s, security: _r, ...bare } = doc;
    const broken = await lint(JSON.stringify(bare));
    expect(broken.errors.some((e) => e.startsWith("no-empty-servers"))).toBe(true);
    expect(broken.errors.some((e) => e.startsWith("security-defined"))).toBe(true);
  });

  test("every operation: a unique camelCase operationId, the pinned ones unchanged, and a 500", () => {
    expect(operationIdProblems(doc)).toEqual([]);
    const ids = Object.fromEntries(operations(doc).map(([op, o]) => [op, o.operationId]));
    expect(ids).toMatchObject(PINNED);
    expect(
      operations(doc)
        .filter(([, o]) => !o.responses?.["500"])
        .map(([op]) => op),
    ).toEqual([]);
    // The check catches a missing, a duplicate and a non-camelCase id.
    const copy = structuredClone(doc);
    delete copy.paths["/current"]!.get!.operationId;
    copy.paths["/next"]!.get!.operationId = "next";
    copy.paths["/reset"]!.post!.operationId = "reset_counter";
    expect(operationIdProblems(copy)).toEqual([
      "GET /current: no operationId",
      "POST /next: operationId next is also GET /next's",
      "POST /reset: operationId reset_counter is not camelCase",
    ]);
  });

  test("exactly the operations that answer 401 without the token carry the bearer requirement", async () => {
    // Ask the running app (PEXD_API_TOKEN set, no Authorization) which operations it protects.
    const protectedOps = new Set<string>();
    for (const [op] of operations(doc)) {
      const [method, path] = op.split(" ") as [string, string];
      const r = await c.app.request(path.replace(/\{[^}]+\}/g, "1"), { method });
      await r.body?.cancel(); // the dashboard stream never ends
      if (r.status === 401) protectedOps.add(op);
    }
    expect([...protectedOps].sort()).toEqual([
      "GET /next",
      "GET /previous",
      "GET /reset",
      "POST /next",
      "POST /previous",
      "POST /reset",
      "POST /rpc/add_widget",
      "POST /rpc/associate_widgets",
      "POST /rpc/remove_association",
      "POST /rpc/remove_widget",
    ]);
    expect(securityProblems(doc, protectedOps)).toEqual([]);
    // Public unless stated: the root requires nothing; the scheme says when the token applies.
    expect(doc.security).toEqual([]);
    expect(doc.components.securitySchemes?.bearer?.description).toContain("PEXD_API_TOKEN");
    // The check catches a protected operation without the requirement, and a public one with it.
    const copy = structuredClone(doc);
    delete copy.paths["/rpc/add_widget"]!.post!.security;
    copy.paths["/current"]!.get!.security = [{ bearer: [] }];
    expect(securityProblems(copy, protectedOps)).toEqual([
      "GET /current: requires no token but lists the bearer security requirement",
      "POST /rpc/add_widget: answers 401 without the token but has no bearer security requirement",
    ]);
  });

  test("openapi-typescript's types compile under the project's tsc --strict, and are precise", async () => {
    writeFileSync(join(dir, "schema.ts"), await openapiTS(JSON.parse(text), {}));
    writeFileSync(join(dir, "usage.ts"), USAGE);
    const ok = tsc(dir, ["schema.ts", "usage.ts"]);
    expect(ok.output).toBe("");
    expect(ok.code).toBe(0);
    // The check is live: a wrong use of the generated types fails it.
    writeFileSync(
      join(dir, "wrong.ts"),
      `import type { paths } from "./schema";\nexport const s: paths["/current"]["get"]["responses"][200]["content"]["application/json"] = { index: "1", value: "1" };\n`,
    );
    const wrong = tsc(dir, ["schema.ts", "wrong.ts"]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.output).toContain("wrong.ts");
  });
});
