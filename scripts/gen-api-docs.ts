// docs/api.md from the OpenAPI document. The document is built in-process exactly as the tests build
// the app — compose() on the in-memory runtime bundle with the default configuration (never this
// machine's environment) — and read from GET /openapi.json, so the page cannot drift from the routes.
// What OpenAPI cannot say (conventions, WebSockets, the relay's TCP protocol) is in docs/protocols.md.
// Usage: bun run scripts/gen-api-docs.ts [--check] [--stdout] [--help]
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { compose } from "../src/compose.ts";
import { parseConfig } from "../src/config.ts";
import { silentLogger } from "../src/log.ts";
import { memoryRuntime } from "../src/runtime/memory.ts";

export const API_DOC = resolve(import.meta.dir, "..", "docs", "api.md");
export const REGENERATE = "bun run scripts/gen-api-docs.ts";

const USAGE = `Usage: bun run scripts/gen-api-docs.ts [--check] [--stdout]

Writes docs/api.md from the OpenAPI document of a pexd composed in-process (default configuration).
  --check    write nothing; exit 1 if docs/api.md differs from what would be written
  --stdout   print the page instead of writing docs/api.md
  --help     this text
Exit status: 0 done (or up to date), 1 out of date (--check), 64 bad arguments.
`;

// ---- the document -------------------------------------------------------------------------------

interface Schema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  description?: string;
  default?: unknown;
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
}
interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  description?: string;
  schema?: Schema;
}
interface MediaType {
  schema?: Schema;
}
interface Response {
  description?: string;
  headers?: Record<string, { description?: string }>;
  content?: Record<string, MediaType>;
}
interface Operation {
  operationId?: string;
  tags?: string[];
  summary?: string;
  description?: string;
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, MediaType> };
  responses?: Record<string, Response>;
}
export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema>; securitySchemes?: Record<string, { description?: string }> };
}

/** The OpenAPI document of `pexd` (every module), as GET /openapi.json serves it. */
export async function buildOpenApiDocument(): Promise<OpenApiDocument> {
  const composed = await compose(parseConfig({}), memoryRuntime(), { log: silentLogger, version: "docs" });
  try {
    const res = await composed.app.request("/openapi.json");
    if (res.status !== 200) throw new Error(`GET /openapi.json answered ${res.status}`);
    return (await res.json()) as OpenApiDocument;
  } finally {
    await composed.close();
  }
}

// ---- rendering ----------------------------------------------------------------------------------

const METHODS = ["get", "head", "post", "put", "patch", "delete", "options"];

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .replace(/`/g, "")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

const refName = (ref: string) => ref.slice(ref.lastIndexOf("/") + 1);
/** One line, safe inside a table cell. */
const cell = (s: string | undefined) =>
  (s ?? "")
    .replace(/\s*\n\s*/g, " ")
    .replace(/\|/g, "\\|")
    .trim();

/** A compact, TypeScript-like type: `{ widget_sn: string, slots?: ("P" | "R" | "Q")[] }`. */
export function typeOf(s: Schema | undefined, depth = 0): string {
  if (!s || Object.keys(s).length === 0) return "any";
  if (s.$ref) return refName(s.$ref);
  const union = s.anyOf ?? s.oneOf;
  if (union) return union.map((x) => typeOf(x, depth)).join(" | ");
  if (s.allOf) return s.allOf.map((x) => typeOf(x, depth)).join(" & ");
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  const types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
  if (types.length > 1) return types.map((t) => typeOf({ ...s, type: t }, depth)).join(" | ");
  const t = types[0];
  if (t === "array") {
    const inner = typeOf(s.items, depth);
    return `${/[ |&]/.test(inner) && !inner.startsWith("{") ? `(${inner})` : inner}[]`;
  }
  if (t === "object" || s.properties) {
    const props = Object.entries(s.properties ?? {});
    const extra = s.additionalProperties;
    if (props.length === 0) return extra && typeof extra === "object" ? `{ [key: string]: ${typeOf(extra, depth + 1)} }` : "object";
    if (depth > 1) return "object";
    const req = new Set(s.required ?? []);
    return `{ ${props.map(([k, v]) => `${k}${req.has(k) ? "" : "?"}: ${typeOf(v, depth + 1)}`).join(", ")} }`;
  }
  return t ?? "any";
}

/** Limits and defaults worth a reader's eye, in words, leaving out what `said` already says. */
function constraints(s: Schema | undefined, said = ""): string {
  if (!s) return "";
  const out: string[] = [];
  const range = (lo: number | undefined, hi: number | undefined, unit: string) => {
    if (lo !== undefined && hi !== undefined) out.push(`${lo}–${hi}${unit}`);
    else if (lo !== undefined) out.push(`≥ ${lo}${unit}`);
    else if (hi !== undefined) out.push(`≤ ${hi}${unit}`);
  };
  range(s.minLength, s.maxLength, " characters");
  range(s.minimum, s.maximum, "");
  range(s.minItems, s.maxItems, " items");
  if (s.pattern) out.push(`pattern \`${s.pattern}\``);
  if (s.format) out.push(s.format);
  if (s.default !== undefined) out.push(`default ${JSON.stringify(s.default)}`);
  const numbers = (t: string) => t.match(/\d+/g) ?? [];
  const known = new Set(numbers(said));
  // A piece whose every number the description already gives ("1..1000, default 100") adds nothing.
  return out.filter((c) => numbers(c).length === 0 || numbers(c).some((n) => !known.has(n))).join("; ");
}

/** A type in a table cell, a component name linking to its schema below. */
function typeCell(s: Schema | undefined): string {
  if (s?.$ref) {
    const name = refName(s.$ref);
    return `[${name}](#${slug(name)})`;
  }
  return `\`${cell(typeOf(s))}\``;
}

function schemaTable(s: Schema): string[] {
  const props = Object.entries(s.properties ?? {});
  if (props.length === 0) return [];
  const req = new Set(s.required ?? []);
  const lines = ["| field | type | required | notes |", "| --- | --- | --- | --- |"];
  for (const [name, p] of props) {
    const notes = [cell(p.description), constraints(p, p.description)].filter(Boolean).join("; ");
    lines.push(`| \`${name}\` | ${typeCell(p)} | ${req.has(name) ? "yes" : "no"} | ${cell(notes)} |`);
  }
  return lines;
}

function bodyLine(content: Record<string, MediaType> | undefined): string {
  if (!content) return "—";
  return Object.entries(content)
    .map(([type, m]) => `\`${type}\`${m.schema ? ` ${typeCell(m.schema)}` : ""}`)
    .join(", ");
}

function auth(op: Operation, doc: OpenApiDocument): string {
  const schemes = (op.security ?? []).flatMap((req) => Object.keys(req));
  if (schemes.length === 0) return "none";
  return schemes.map((name) => (doc.components?.securitySchemes?.[name] ? `${name} ([authentication](#authentication))` : name)).join(", ");
}

interface Entry {
  method: string;
  path: string;
  op: Operation;
  heading: string;
}

function operations(doc: OpenApiDocument): Map<string, Entry[]> {
  const byTag = new Map<string, Entry[]>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = op.tags?.[0] ?? "other";
      const list = byTag.get(tag) ?? [];
      list.push({ method: method.toUpperCase(), path, op, heading: `\`${method.toUpperCase()} ${path}\`` });
      byTag.set(tag, list);
    }
  }
  return byTag;
}

function renderOperation(e: Entry, doc: OpenApiDocument): string[] {
  const { op } = e;
  const out = [`### ${e.heading}`, ""];
  if (op.summary) out.push(`**${op.summary.trim()}**`, "");
  if (op.description) out.push(op.description.trim(), "");
  const facts = [`Auth: ${auth(op, doc)}`];
  if (op.operationId) facts.unshift(`operationId: \`${op.operationId}\``);
  out.push(facts.join(" · "), "");
  if (op.parameters?.length) {
    out.push("| parameter | in | type | required | notes |", "| --- | --- | --- | --- | --- |");
    for (const p of op.parameters) {
      const notes = [cell(p.description), constraints(p.schema, p.description)].filter(Boolean).join("; ");
      out.push(`| \`${p.name}\` | ${p.in} | ${typeCell(p.schema)} | ${p.required ? "yes" : "no"} | ${cell(notes)} |`);
    }
    out.push("");
  }
  if (op.requestBody) {
    const content = op.requestBody.content ?? {};
    out.push(`Request body${op.requestBody.required ? "" : " (optional)"}: ${bodyLine(content)}`, "");
    for (const m of Object.values(content)) {
      const s = m.schema;
      if (!s) continue;
      const resolved = s.$ref ? doc.components?.schemas?.[refName(s.$ref)] : s;
      out.push("```ts", typeOf(resolved), "```", "");
    }
  }
  const responses = Object.entries(op.responses ?? {});
  if (responses.length) {
    out.push("| status | meaning | body |", "| --- | --- | --- |");
    for (const [status, r] of responses) {
      const headers = Object.keys(r.headers ?? {});
      const meaning = cell(r.description) + (headers.length ? ` (headers: ${headers.map((h) => `\`${h}\``).join(", ")})` : "");
      out.push(`| ${status} | ${meaning} | ${bodyLine(r.content)} |`);
    }
    out.push("");
  }
  return out;
}

/** The Markdown page for `doc`. */
export function renderApiDoc(doc: OpenApiDocument): string {
  const byTag = operations(doc);
  const out: string[] = [
    "# API reference",
    "",
    `<!-- Generated from the OpenAPI document by scripts/gen-api-docs.ts: do not edit by hand. Regenerate with \`${REGENERATE}\`. -->`,
    "",
    `Every HTTP operation of \`pexd\` (all modules; the relay roles serve a subset), generated from the OpenAPI ${doc.openapi} document that a running pexd serves at \`GET /openapi.json\` (and, to a browser, as an interactive page at \`GET /\`). The same zod schemas validate the requests, so this page and the service cannot disagree.`,
    "",
    "What OpenAPI cannot say — the HTTP conventions of every route, the error body and its codes, the WebSocket protocols, the relay's TCP protocol and the JSON-RPC specifics — is in [protocols.md](protocols.md).",
    "",
  ];
  if (doc.info.description) out.push(doc.info.description.trim(), "");

  out.push("## Authentication", "");
  const schemes = Object.entries(doc.components?.securitySchemes ?? {});
  if (schemes.length === 0) out.push("No security scheme is declared.", "");
  for (const [name, s] of schemes) out.push(`- \`${name}\`: ${s.description?.trim() ?? ""}`);
  out.push("");

  out.push("## Operations", "", "| method | path | summary | auth |", "| --- | --- | --- | --- |");
  for (const entries of byTag.values())
    for (const e of entries)
      out.push(
        `| ${e.method} | [\`${cell(e.path)}\`](#${slug(e.heading)}) | ${cell(e.op.summary)} | ${(e.op.security ?? []).length ? "bearer" : "—"} |`,
      );
  out.push("");

  for (const [tag, entries] of byTag) {
    out.push(`## Tag: ${tag}`, "");
    for (const e of entries) out.push(...renderOperation(e, doc));
  }

  const schemas = Object.entries(doc.components?.schemas ?? {});
  if (schemas.length) {
    out.push("## Schemas", "");
    for (const [name, s] of schemas) {
      out.push(`### ${name}`, "");
      if (s.description) out.push(cell(s.description), "");
      out.push("```ts", typeOf(s), "```", "");
      const table = schemaTable(s);
      if (table.length) out.push(...table, "");
    }
  }
  return `${out
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trimEnd()}\n`;
}

// ---- command line -------------------------------------------------------------------------------

export interface CheckResult {
  upToDate: boolean;
  expected: string;
  actual: string | null;
}

/** Whether docs/api.md is what the generator would write now. */
export async function checkApiDoc(file = API_DOC): Promise<CheckResult> {
  const expected = renderApiDoc(await buildOpenApiDocument());
  let actual: string | null = null;
  try {
    actual = readFileSync(file, "utf8");
  } catch {
    /* missing: out of date */
  }
  return { upToDate: actual === expected, expected, actual };
}

interface Io {
  out(s: string): void;
  err(s: string): void;
}
const stdio: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

/** Runs the command; returns the exit status. */
export async function main(argv: readonly string[], io: Io = stdio): Promise<number> {
  const flags = new Set<string>();
  for (const a of argv) {
    if (a === "--help" || a === "-h") {
      io.out(USAGE);
      return 0;
    }
    if (a !== "--check" && a !== "--stdout") {
      io.err(`gen-api-docs: unknown argument "${a}"\n\n${USAGE}`);
      return 64;
    }
    flags.add(a);
  }
  if (flags.has("--check")) {
    const r = await checkApiDoc();
    if (r.upToDate) return 0;
    io.err(`docs/api.md is out of date with the OpenAPI document: run \`${REGENERATE}\`\n`);
    return 1;
  }
  const page = renderApiDoc(await buildOpenApiDocument());
  if (flags.has("--stdout")) io.out(page);
  else {
    writeFileSync(API_DOC, page);
    io.err(`wrote docs/api.md (${page.split("\n").length - 1} lines)\n`);
  }
  return 0;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
