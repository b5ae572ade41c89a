// The documentation stands alone and stays true: README.md is a short front door whose configuration
// table lists every variable; no page points outside the repository; every relative link and anchor
// resolves; docs/api.md is what scripts/gen-api-docs.ts would write from the OpenAPI document now.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { checkApiDoc, main, REGENERATE, slug } from "../scripts/gen-api-docs.ts";
import { CONFIG_VARIABLES } from "../src/config.ts";

const ROOT = resolve(import.meta.dir, "..");
const README = join(ROOT, "README.md");
const DOCS = join(ROOT, "docs");
const pages = () => [
  README,
  ...readdirSync(DOCS)
    .filter((f) => f.endsWith(".md"))
    .map((f) => join(DOCS, f)),
];
const read = (file: string) => readFileSync(file, "utf8");
const rel = (file: string) => relative(ROOT, file);

/** Text outside fenced code blocks, line by line (fenced lines become empty: line numbers hold). */
function prose(md: string): string[] {
  let fence: string | null = null;
  return md.split("\n").map((line) => {
    const m = /^\s*(```+|~~~+)/.exec(line);
    if (m) {
      if (fence === null) fence = m[1]![0]!;
      else if (m[1]![0] === fence) fence = null;
      return "";
    }
    return fence === null ? line : "";
  });
}

/** The anchors GitHub gives a page's headings (duplicates get -1, -2, …), plus explicit ids. */
export function anchors(md: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of prose(md)) {
    const h = /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (h) {
      const text = h[1]!.replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1");
      const base = slug(text);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      out.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) out.add(m[1]!);
  }
  return out;
}

/** Link targets (Markdown links and images, HTML src/href) outside code, with their line numbers. */
export function links(md: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = [];
  prose(md).forEach((raw, i) => {
    const line = raw.replace(/`[^`]*`/g, (span) => (span.includes("](") ? "" : span.replace(/[[\]()]/g, " ")));
    for (const m of line.matchAll(/!?\[(?:[^\]]|\\\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
      out.push({ target: m[1]!, line: i + 1 });
    for (const m of line.matchAll(/\b(?:src|href)="([^"]+)"/g)) out.push({ target: m[1]!, line: i + 1 });
  });
  return out;
}

const EXTERNAL = /^[a-z][a-z0-9+.-]*:/i;

/** Why a link from `file` is broken, or null when it resolves inside the repository. */
export function brokenLink(file: string, target: string, root = ROOT): string | null {
  if (EXTERNAL.test(target)) return null;
  const [path = "", anchor] = target.split("#", 2) as [string, string | undefined];
  const dest = path === "" ? file : resolve(dirname(file), decodeURI(path));
  if (path.startsWith("/")) return "absolute path";
  if (dest !== root && !dest.startsWith(root + sep)) return "points outside the repository";
  if (!existsSync(dest)) return "no such file";
  if (anchor !== undefined) {
    if (statSync(dest).isDirectory() || !dest.endsWith(".md")) return "anchor into a file that is not Markdown";
    if (!anchors(readFileSync(dest, "utf8")).has(anchor)) return `no heading #${anchor}`;
  }
  return null;
}

/** References to things outside the repository: the shared folder, the contract files, machine paths. */
const OUTSIDE = [new RegExp(String.raw`\.\./${"shared"}\b`), /\bSPEC\.md\b/, /\bFINDINGS\.md\b/, /(^|[\s(`'"=:])\/work(\/|\b)/];
export function outsideReferences(md: string): string[] {
  return md
    .split("\n")
    .flatMap((line, i) => OUTSIDE.filter((re) => re.test(line)).map((re) => `line ${i + 1}: ${re.source}: ${line.trim()}`));
}

/** The first cell of each row of the first table after `heading`. */
function tableVariables(md: string, heading: RegExp): string {
  const lines = md.split("\n");
  const start = lines.findIndex((l) => heading.test(l));
  if (start < 0) return "";
  const rows: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (/^#{1,6}\s/.test(l)) break;
    if (l.startsWith("|")) rows.push(l.split("|")[1] ?? "");
    else if (rows.length && l.trim() === "") break;
  }
  return rows.join("\n");
}

describe("the checks themselves", () => {
  test("find broken links, missing anchors and references outside the repository", () => {
    const file = join(DOCS, "x.md");
    expect(brokenLink(file, "api.md")).toBeNull();
    expect(brokenLink(file, "no-such-page.md")).toBe("no such file");
    expect(brokenLink(file, "../../etc/passwd")).toBe("points outside the repository");
    expect(brokenLink(file, "/etc/passwd")).toBe("absolute path");
    expect(brokenLink(file, "configuration.md#no-such-heading")).toBe("no heading #no-such-heading");
    expect(brokenLink(file, "https://example.org/x.md")).toBeNull();
    // Built from parts, so that this file itself points nowhere outside the repository.
    const shared = ["..", "shared", "SPEC.md"].join("/");
    const machinePath = ["", "work", "10m-data"].join("/");
    expect(outsideReferences(`see [the spec](${shared})\nok\ndata in ${machinePath}`)).toHaveLength(3);
    expect(outsideReferences("PEXD_DATA_DIR=/var/lib/pexd and ./work/x")).toEqual([]);
    expect(links('a [b](c.md#d) `[e](f)` ![g](h.svg)\n```\n[i](j)\n```\n<img src="k.svg">').map((l) => l.target)).toEqual([
      "c.md#d",
      "h.svg",
      "k.svg",
    ]);
    expect([...anchors("# A `b` c\n## Tag: x (y)\n## A b c\n```\n# not\n```")]).toEqual(["a-b-c", "tag-x-y", "a-b-c-1"]);
  });
});

describe("README.md", () => {
  test("is a front door of at most 200 lines", () => {
    const lines = read(README).split("\n").length - (read(README).endsWith("\n") ? 1 : 0);
    expect(lines).toBeLessThanOrEqual(200);
  });

  test("its configuration table lists every variable", () => {
    const table = tableVariables(read(README), /^## Configuration\b/);
    expect(CONFIG_VARIABLES.filter((v) => !table.includes(`\`${v}\``))).toEqual([]);
  });
});

describe("docs/configuration.md", () => {
  test("lists every variable in its table and explains each under a heading", () => {
    const md = read(join(DOCS, "configuration.md"));
    const table = tableVariables(md, /^## All variables\b/);
    expect(CONFIG_VARIABLES.filter((v) => !table.includes(`\`${v}\``))).toEqual([]);
    const headings = md.split("\n").filter((l) => /^#{2,4}\s/.test(l));
    expect(CONFIG_VARIABLES.filter((v) => !headings.some((h) => h.includes(`\`${v}\``)))).toEqual([]);
  });
});

describe("README.md and docs/*.md", () => {
  test("point nowhere outside the repository", () => {
    const found = pages().flatMap((f) => outsideReferences(read(f)).map((r) => `${rel(f)} ${r}`));
    expect(found).toEqual([]);
  });

  test("every relative link resolves to a file, and every anchor to a heading", () => {
    const broken = pages().flatMap((f) =>
      links(read(f)).flatMap(({ target, line }) => {
        const why = brokenLink(f, target);
        return why ? [`${rel(f)}:${line} ${target}: ${why}`] : [];
      }),
    );
    expect(broken).toEqual([]);
  });
});

describe("docs/api.md", () => {
  test(`is up to date with the OpenAPI document (regenerate: ${REGENERATE})`, async () => {
    const r = await checkApiDoc();
    if (!r.upToDate) {
      const a = (r.actual ?? "").split("\n");
      const e = r.expected.split("\n");
      const i = e.findIndex((l, n) => l !== a[n]);
      throw new Error(`docs/api.md is out of date (first difference at line ${i + 1}): run \`${REGENERATE}\``);
    }
  });

  test("a page that differs from the document is reported out of date", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pexd-docs-"));
    try {
      const stale = join(dir, "api.md");
      const { expected } = await checkApiDoc();
      writeFileSync(stale, expected.replace("### `GET /health`", "### `GET /healthz`"));
      expect((await checkApiDoc(stale)).upToDate).toBe(false);
      expect((await checkApiDoc(join(dir, "missing.md"))).upToDate).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the generator's command line: --help 0, unknown flags 64, --check 0 when up to date", async () => {
    const io = { out: () => {}, err: () => {} };
    expect(await main(["--help"], io)).toBe(0);
    expect(await main(["--bogus"], io)).toBe(64);
    expect(await main(["--check", "extra"], io)).toBe(64);
    expect(await main(["--check"], io)).toBe(0);
  });
});
