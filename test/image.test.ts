// The container image and the compose topology (issue 16), tested as far as this machine allows: no
// container engine can run a container here (podman: crun cannot set RLIMIT_NOFILE / cgroups in
// hybrid mode; docs/shipping.md), and no image registry is reachable. So:
//  * the Dockerfile is parsed and held to its rules (multi-stage, non-root USER, exec-form
//    HEALTHCHECK calling `pexd health`, ENTRYPOINT the executable, the Bun of package.json, a final
//    stage that copies only the executable and the CA bundle); each rule is shown to fail on a
//    Dockerfile that breaks it;
//  * its two stages are APPLIED, instruction by instruction as parsed (not restated here), to the
//    cached Debian bookworm root of test/helpers/nspawn.ts on tmpfs overlays — the stand-in for both
//    base images (oven/bun:1.4.5-debian is Debian with /usr/local/bin/bun: the stand-in gets this
//    test's Bun; debian:bookworm-slim is a subset of that root). RUN lines run under systemd-nspawn
//    with `/bin/sh -c`, COPY copies from the build context (honouring .dockerignore) or the build
//    stage's tree; the image's ENTRYPOINT then runs as its USER with its ENV under
//    `systemd-nspawn --as-pid2 --user=…` with a named volume bound at its VOLUME, and its
//    HEALTHCHECK runs as a second process inside (nsenter, as the USER);
//  * deploy/compose.yaml is parsed (Bun.YAML) and checked, the pexd environment it gives goes through
//    pexd's own parseConfig, and deploy/nginx.conf passes the real `nginx -t`;
//  * with podman installed, `podman build` is tried and its outcome printed (not asserted).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, posix, relative } from "node:path";
import { parseConfig } from "../src/config.ts";
import { deadPort } from "./helpers/net.ts";
import { cleanupStale, Container, containerUnavailable, ensureRoot, run } from "./helpers/nspawn.ts";
import { ROOT } from "./helpers/pexd.ts";
import { reapOnExit } from "./helpers/reaper.ts";
import { need, skipping } from "./helpers/requirements.ts";

const DOCKERFILE = join(ROOT, "Dockerfile");
const COMPOSE = join(ROOT, "deploy/compose.yaml");
const ENV_EXAMPLE = join(ROOT, "deploy/.env.example");
const NGINX_CONF = join(ROOT, "deploy/nginx.conf");
const SHIPPED_NGINX = join(ROOT, "systemd/nginx-pexd.conf");
const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
const log = (s: string) => process.stdout.write(`[image.test] ${s}\n`);
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  version: string;
  devDependencies?: Record<string, string>;
};

// ---------------------------------------------------------------------------------------------
// A small Dockerfile parser: the instructions this repository's Dockerfile uses, as BuildKit reads
// them (continuation lines, comments inside them, exec (JSON) and shell forms, --flags, KEY=VALUE
// lists with quotes, ${VAR} / ${VAR:-default} / $VAR from ARG and ENV).

interface Instruction {
  cmd: string;
  line: number;
  /** Text after the keyword and its leading --flags. */
  rest: string;
  flags: Record<string, string>;
  /** The exec form's argv, when `rest` is a JSON array of strings. */
  exec?: string[];
}

interface Stage {
  index: number;
  image: string;
  name?: string;
  instructions: Instruction[];
}

const INSTRUCTIONS = new Set([
  "FROM",
  "RUN",
  "CMD",
  "LABEL",
  "EXPOSE",
  "ENV",
  "ADD",
  "COPY",
  "ENTRYPOINT",
  "VOLUME",
  "USER",
  "WORKDIR",
  "ARG",
  "ONBUILD",
  "STOPSIGNAL",
  "HEALTHCHECK",
  "SHELL",
]);

function execForm(text: string): string[] | undefined {
  if (!text.trimStart().startsWith("[")) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) && v.every((x) => typeof x === "string") ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Shell-like words: quotes group, backslash escapes (as in ENV and LABEL lists). */
function words(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let has = false;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === "\\" && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (ch === "\\" && i + 1 < text.length) {
      cur += text[++i];
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || cur) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (quote) throw new Error(`unterminated quote in: ${text}`);
  if (has || cur) out.push(cur);
  return out;
}

/** ${VAR}, ${VAR:-default}, ${VAR-default} and $VAR, from `vars` (unset: empty). */
function expand(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, a, colon, def, b) => {
    const name = (a ?? b) as string;
    const v = vars[name];
    if (def !== undefined) return v === undefined || (colon && v === "") ? def : v;
    return v ?? "";
  });
}

/** KEY=VALUE pairs (ENV, LABEL, ARG); the legacy `ENV KEY value` form too. */
function pairs(rest: string, vars: Record<string, string>): [string, string][] {
  const ws = words(rest);
  if (ws.length && !ws[0]!.includes("=")) {
    const [k, ...v] = rest.trim().split(/\s+/);
    return [[k!, expand(v.join(" "), vars)]];
  }
  return ws.map((w) => {
    const i = w.indexOf("=");
    if (i <= 0) throw new Error(`not KEY=VALUE: ${w}`);
    return [w.slice(0, i), expand(w.slice(i + 1), vars)];
  });
}

export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split("\n");
  let acc: string | null = null;
  let start = 0;
  const flush = () => {
    if (acc === null) return;
    const body = acc.trim();
    acc = null;
    if (!body) return;
    const m = /^(\S+)\s*([\s\S]*)$/.exec(body)!;
    const cmd = m[1]!.toUpperCase();
    if (!INSTRUCTIONS.has(cmd)) throw new Error(`Dockerfile line ${start}: unknown instruction ${m[1]}`);
    let rest = m[2]!;
    const flags: Record<string, string> = {};
    for (;;) {
      const f = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest);
      if (!f) break;
      flags[f[1]!] = f[2] ?? "true";
      rest = rest.slice(f[0].length);
    }
    const ins: Instruction = { cmd, line: start, rest, flags, ...(execForm(rest) ? { exec: execForm(rest)! } : {}) };
    if (cmd === "FROM") {
      const fm = /^(\S+)(?:\s+AS\s+(\S+))?\s*$/i.exec(rest);
      if (!fm) throw new Error(`Dockerfile line ${start}: FROM ${rest}`);
      stages.push({ index: stages.length, image: fm[1]!, ...(fm[2] ? { name: fm[2] } : {}), instructions: [ins] });
    } else if (cmd === "ARG" && stages.length === 0) {
      // An ARG before the first FROM: only FROM lines see it; kept out of the stages.
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`Dockerfile line ${start}: ${cmd} before FROM`);
      stage.instructions.push(ins);
    }
  };
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    // Comment lines are dropped, also between continuation lines (BuildKit does so).
    if (/^\s*#/.test(line)) return;
    if (acc === null) {
      if (!line.trim()) return;
      acc = "";
      start = i + 1;
    }
    if (/\\\s*$/.test(line)) acc += `${line.replace(/\\\s*$/, "")} `;
    else {
      acc += line;
      flush();
    }
  });
  flush();
  return stages;
}

/** A stage's settings after its instructions (what the image config would hold). */
interface StageConfig {
  args: Record<string, string>;
  env: Record<string, string>;
  labels: Record<string, string>;
  user?: string;
  workdir: string;
  volumes: string[];
  expose: string[];
  entrypoint?: string[];
  entrypointShell?: string;
  cmd?: string[];
  healthcheck?: { exec?: string[]; shell?: string; none?: boolean; flags: Record<string, string> };
}

function stageConfig(stage: Stage): StageConfig {
  const c: StageConfig = { args: {}, env: {}, labels: {}, workdir: "/", volumes: [], expose: [] };
  const vars = () => ({ ...c.args, ...c.env });
  for (const ins of stage.instructions) {
    switch (ins.cmd) {
      case "ARG":
        for (const w of words(ins.rest)) {
          const i = w.indexOf("=");
          if (i < 0) c.args[w] = "";
          else c.args[w.slice(0, i)] = expand(w.slice(i + 1), vars());
        }
        break;
      case "ENV":
        for (const [k, v] of pairs(ins.rest, vars())) c.env[k] = v;
        break;
      case "LABEL":
        for (const [k, v] of pairs(ins.rest, vars())) c.labels[k] = v;
        break;
      case "USER":
        c.user = expand(ins.rest.trim(), vars());
        break;
      case "WORKDIR":
        c.workdir = posix.resolve(c.workdir, expand(ins.rest.trim(), vars()));
        break;
      case "VOLUME":
        c.volumes.push(...(ins.exec ?? ins.rest.trim().split(/\s+/)).map((v) => expand(v, vars())));
        break;
      case "EXPOSE":
        c.expose.push(
          ...ins.rest
            .trim()
            .split(/\s+/)
            .map((v) => expand(v, vars())),
        );
        break;
      case "ENTRYPOINT":
        if (ins.exec) {
          c.entrypoint = ins.exec;
          delete c.entrypointShell;
        } else {
          c.entrypointShell = ins.rest;
          delete c.entrypoint;
        }
        delete c.cmd; // an ENTRYPOINT resets an inherited CMD
        break;
      case "CMD":
        c.cmd = ins.exec ?? ["/bin/sh", "-c", ins.rest];
        break;
      case "HEALTHCHECK": {
        if (/^NONE\s*$/i.test(ins.rest)) c.healthcheck = { none: true, flags: ins.flags };
        else {
          const m = /^CMD\s+([\s\S]*)$/i.exec(ins.rest);
          if (!m) throw new Error(`Dockerfile line ${ins.line}: HEALTHCHECK without CMD`);
          const exec = execForm(m[1]!);
          c.healthcheck = exec ? { exec, flags: ins.flags } : { shell: m[1]!, flags: ins.flags };
        }
        break;
      }
    }
  }
  return c;
}

/** The COPY/ADD sources and destination of an instruction (exec/JSON form or words). */
function copyArgs(ins: Instruction, vars: Record<string, string>): { srcs: string[]; dest: string } {
  const all = (ins.exec ?? words(ins.rest)).map((w) => expand(w, vars));
  if (all.length < 2) throw new Error(`Dockerfile line ${ins.line}: ${ins.cmd} needs a source and a destination`);
  return { srcs: all.slice(0, -1), dest: all.at(-1)! };
}

/** The argv of a RUN that calls scripts/build.ts, and its --outfile. */
function buildRun(stage: Stage): { ins: Instruction; outfile: string } | undefined {
  for (const ins of stage.instructions) {
    if (ins.cmd !== "RUN") continue;
    const argv = ins.exec ?? words(ins.rest);
    const i = argv.indexOf("scripts/build.ts");
    if (i < 0) continue;
    const o = argv.indexOf("--outfile", i);
    const eq = argv.find((a) => a.startsWith("--outfile="));
    const outfile = o >= 0 ? argv[o + 1] : eq?.slice("--outfile=".length);
    if (outfile) return { ins, outfile };
  }
  return undefined;
}

const isRootUser = (user: string) => /^(root|0)(:.*)?$/.test(user.trim());

/**
 * What is wrong with the Dockerfile (empty: nothing). The rules of issue 16 item 5; each one is shown
 * to fail below.
 */
export function dockerfileProblems(text: string, bunVersion: string): string[] {
  const problems: string[] = [];
  let stages: Stage[];
  try {
    stages = parseDockerfile(text);
  } catch (e) {
    return [`does not parse: ${(e as Error).message}`];
  }
  if (stages.length < 2) return ["not multi-stage: a build stage and a final stage are needed"];
  const final = stages.at(-1)!;
  const fc = stageConfig(final);
  const byName = (ref: string) => stages.find((s) => s.name === ref || String(s.index) === ref);

  // The build stage: the official Bun image at package.json's version, a locked production install
  // and scripts/build.ts writing the executable.
  const copies = final.instructions.filter((i) => i.cmd === "COPY" || i.cmd === "ADD");
  const fromStages = new Set(copies.map((i) => i.flags.from).filter((f): f is string => f !== undefined));
  const builds = [...fromStages].map(byName).filter((s): s is Stage => s !== undefined && s !== final);
  if (builds.length === 0) problems.push("the final stage copies from no earlier stage");
  let outfile: string | undefined;
  for (const b of builds) {
    const m = /^(?:docker\.io\/)?oven\/bun:(\d+\.\d+\.\d+)(-[a-z]+)?$/.exec(b.image);
    if (!m)
      problems.push(`build stage ${b.name ?? b.index} is not FROM the official Bun image pinned to a version (oven/bun:x.y.z): ${b.image}`);
    else if (m[1] !== bunVersion) problems.push(`build stage uses Bun ${m[1]}, package.json pins ${bunVersion}`);
    const runs = b.instructions.filter((i) => i.cmd === "RUN").map((i) => i.rest);
    if (!runs.some((r) => /\bbun install\b/.test(r) && /--frozen-lockfile\b/.test(r) && /--production\b/.test(r)))
      problems.push("build stage: no `bun install --frozen-lockfile --production`");
    const br = buildRun(b);
    if (!br) problems.push("build stage: no `bun run scripts/build.ts --outfile …`");
    else outfile = posix.resolve(stageConfig(b).workdir, br.outfile);
    for (const i of b.instructions.filter((x) => x.cmd === "COPY" || x.cmd === "ADD")) {
      if (i.cmd === "ADD") problems.push(`build stage line ${i.line}: ADD (use COPY)`);
      const { srcs } = copyArgs(i, {});
      if (!i.flags.from && srcs.some((s) => s === "." || s === "./" || s === "*"))
        problems.push(`build stage line ${i.line}: copies the whole context, not only what the build needs`);
    }
  }

  // The final stage: glibc base, only the executable (and the CA bundle) copied in.
  if (/alpine|musl|busybox|scratch/.test(final.image) || !/(debian|ubuntu|distroless\/(cc|base))/.test(final.image))
    problems.push(`final stage base ${final.image} is not a glibc image (debian, ubuntu, distroless cc/base)`);
  if (final.instructions.some((i) => i.cmd === "ADD")) problems.push("final stage uses ADD");
  const entry = fc.entrypoint?.[0];
  let copiesExecutable = false;
  for (const i of copies) {
    const { srcs, dest } = copyArgs(i, { ...fc.args });
    if (!i.flags.from) {
      problems.push(
        `final stage line ${i.line}: copies ${srcs.join(" ")} from the build context (only the executable and certificates belong)`,
      );
      continue;
    }
    for (const s of srcs) {
      const isExe = outfile !== undefined && posix.resolve("/", s) === outfile;
      if (isExe && posix.resolve(fc.workdir, dest) === entry) copiesExecutable = true;
      if (!isExe && !s.startsWith("/etc/ssl/certs/"))
        problems.push(`final stage line ${i.line}: copies ${s} (only the executable and certificates belong)`);
    }
  }
  if (!copiesExecutable) problems.push("final stage does not copy the build's executable to the ENTRYPOINT's path");
  if (!copies.some((i) => copyArgs(i, {}).srcs.some((s) => s.startsWith("/etc/ssl/certs/"))))
    problems.push("final stage has no CA certificates");
  if (!fc.user) problems.push("final stage has no USER (it would run as root)");
  else if (isRootUser(fc.user)) problems.push(`final stage USER ${fc.user} is root`);
  if (!fc.entrypoint) problems.push(`ENTRYPOINT is not in exec form: ${fc.entrypointShell ?? "(none)"}`);
  else if (fc.entrypoint.length !== 1 || !fc.entrypoint[0]!.endsWith("/pexd"))
    problems.push(`ENTRYPOINT is not the executable alone: ${JSON.stringify(fc.entrypoint)}`);
  const hc = fc.healthcheck;
  if (!hc || hc.none) problems.push("final stage has no HEALTHCHECK");
  else if (!hc.exec) problems.push(`HEALTHCHECK is not in exec form: CMD ${hc.shell}`);
  else if (hc.exec[0] !== entry || hc.exec[1] !== "health" || hc.exec.length > 3)
    problems.push(`HEALTHCHECK does not run \`pexd health\`: ${JSON.stringify(hc.exec)}`);
  if (fc.env.PEXD_HOST !== "0.0.0.0") problems.push(`ENV PEXD_HOST is ${fc.env.PEXD_HOST ?? "unset"}, not 0.0.0.0`);
  const dataDir = fc.env.PEXD_DATA_DIR;
  if (!dataDir || !fc.volumes.includes(dataDir)) problems.push(`PEXD_DATA_DIR (${dataDir ?? "unset"}) is not a VOLUME`);
  const port = fc.env.PEXD_PORT ?? "8081";
  if (!fc.expose.some((e) => e.replace(/\/tcp$/, "") === port)) problems.push(`EXPOSE does not list PEXD_PORT ${port}`);
  for (const label of ["title", "source", "licenses"])
    if (!fc.labels[`org.opencontainers.image.${label}`]) problems.push(`no LABEL org.opencontainers.image.${label}`);
  if (fc.labels["org.opencontainers.image.licenses"] && fc.labels["org.opencontainers.image.licenses"] !== "MIT")
    problems.push("the licenses label is not MIT");
  return problems;
}

const BUN_PIN = pkg.devDependencies?.bun ?? "";
const dockerfileText = () => readFileSync(DOCKERFILE, "utf8");

describe("Dockerfile rules", () => {
  test("package.json pins one Bun version (devDependencies.bun)", () => {
    expect(BUN_PIN).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test("the Dockerfile keeps every rule", () => {
    expect(dockerfileProblems(dockerfileText(), BUN_PIN)).toEqual([]);
  });

  test("the parser reads the final stage as written", () => {
    const stages = parseDockerfile(dockerfileText());
    const fc = stageConfig(stages.at(-1)!);
    expect(stages.length).toBe(2);
    expect(fc.entrypoint).toEqual(["/usr/local/bin/pexd"]);
    expect(fc.healthcheck?.exec).toEqual(["/usr/local/bin/pexd", "health"]);
    expect(fc.env.PEXD_HOST).toBe("0.0.0.0");
    expect(fc.volumes).toEqual([fc.env.PEXD_DATA_DIR!]);
    expect(fc.user).not.toMatch(/^(root|0)\b/);
    expect(fc.labels["org.opencontainers.image.licenses"]).toBe("MIT");
  });

  // Each rule can fail: one broken Dockerfile per rule, and the problem it must report.
  const cases: [string, (t: string) => string, RegExp][] = [
    ["one stage only", (t) => t.slice(t.lastIndexOf("\nFROM ")), /multi-stage/],
    ["USER root", (t) => t.replace(/^USER .*$/m, "USER root"), /USER root is root/],
    ["USER 0:0", (t) => t.replace(/^USER .*$/m, "USER 0:0"), /is root/],
    ["no USER", (t) => t.replace(/^USER .*$/m, ""), /no USER/],
    [
      "HEALTHCHECK in shell form",
      (t) => t.replace(/CMD \["\/usr\/local\/bin\/pexd", "health"\]/, "CMD /usr/local/bin/pexd health"),
      /exec form/,
    ],
    [
      "HEALTHCHECK with curl",
      (t) => t.replace(/CMD \["\/usr\/local\/bin\/pexd", "health"\]/, 'CMD ["curl", "-f", "http://127.0.0.1:8081/health"]'),
      /pexd health/,
    ],
    ["no HEALTHCHECK", (t) => t.replace(/^HEALTHCHECK .*$/m, ""), /no HEALTHCHECK/],
    ["ENTRYPOINT in shell form", (t) => t.replace(/^ENTRYPOINT .*$/m, "ENTRYPOINT /usr/local/bin/pexd"), /ENTRYPOINT is not in exec form/],
    [
      "ENTRYPOINT through a shell",
      (t) => t.replace(/^ENTRYPOINT .*$/m, 'ENTRYPOINT ["/bin/sh", "-c", "/usr/local/bin/pexd"]'),
      /ENTRYPOINT/,
    ],
    ["another Bun version", (t) => t.replace(/oven\/bun:\d+\.\d+\.\d+/, "oven/bun:1.0.0"), /Bun 1\.0\.0, package\.json pins/],
    ["an unpinned Bun", (t) => t.replace(/oven\/bun:\d+\.\d+\.\d+-debian/, "oven/bun:latest"), /pinned to a version/],
    ["the source copied into the final stage", (t) => t.replace(/^ENTRYPOINT/m, "COPY src /app/src\nENTRYPOINT"), /from the build context/],
    [
      "node_modules copied from the build",
      (t) => t.replace(/^ENTRYPOINT/m, "COPY --from=build /src/node_modules /app/node_modules\nENTRYPOINT"),
      /copies \/src\/node_modules/,
    ],
    ["the whole context copied into the build", (t) => t.replace("COPY src ./src", "COPY . ."), /whole context/],
    ["an install with dev dependencies", (t) => t.replace("bun install --frozen-lockfile --production", "bun install"), /--production/],
    [
      "an Alpine final stage",
      (t) => t.replace(/^FROM (\S*)debian:bookworm-slim$/m, "FROM docker.io/library/alpine:3.20"),
      /not a glibc image/,
    ],
    ["PEXD_HOST left at 127.0.0.1", (t) => t.replace("PEXD_HOST=0.0.0.0", "PEXD_HOST=127.0.0.1"), /PEXD_HOST/],
    ["no VOLUME", (t) => t.replace(/^VOLUME .*$/m, ""), /not a VOLUME/],
    [
      "no licenses label",
      (t) => t.replace(/org\.opencontainers\.image\.licenses="MIT"/, 'org.opencontainers.image.vendor="x"'),
      /licenses/,
    ],
  ];
  for (const [what, mutate, expected] of cases) {
    test(`fails for ${what}`, () => {
      const broken = mutate(dockerfileText());
      expect(broken).not.toBe(dockerfileText());
      const problems = dockerfileProblems(broken, BUN_PIN);
      expect(problems.join("\n")).toMatch(expected);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// .dockerignore, as the builder applies it to the context (last matching pattern wins; a pattern
// that matches a directory excludes what is inside; `!` re-includes).

function dockerignore(root: string): (rel: string) => boolean {
  const file = join(root, ".dockerignore");
  const patterns = existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith("#"))
        .map((l) => {
          const negate = l.startsWith("!");
          const p = posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, "")).replace(/\/+$/, "");
          return { negate, glob: new Bun.Glob(p) };
        })
    : [];
  return (rel: string) => {
    const parts = rel.split("/");
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    let excluded = false;
    for (const { negate, glob } of patterns) if (prefixes.some((p) => glob.match(p))) excluded = !negate;
    return excluded;
  };
}

// ---------------------------------------------------------------------------------------------
// Applying a stage to a root file system without a container engine.

interface Applied {
  config: StageConfig;
  /** RUN lines with how long each took. */
  runs: { line: number; ms: number }[];
}

/** uid and gid of a USER value (`name`, `uid`, `name:group`, `uid:gid`), from the tree's passwd/group. */
function resolveUser(root: string, user: string): { uid: number; gid: number; name: string } {
  const [u = "", g] = user.split(":");
  const passwd = readFileSync(join(root, "etc/passwd"), "utf8")
    .split("\n")
    .map((l) => l.split(":"))
    .filter((f) => f.length >= 7);
  const group = readFileSync(join(root, "etc/group"), "utf8")
    .split("\n")
    .map((l) => l.split(":"))
    .filter((f) => f.length >= 3);
  const pw = passwd.find((f) => f[0] === u || f[2] === u);
  const uid = /^\d+$/.test(u) ? Number(u) : Number(pw?.[2] ?? Number.NaN);
  let gid = Number(pw?.[3] ?? Number.NaN);
  if (g !== undefined) gid = /^\d+$/.test(g) ? Number(g) : Number(group.find((f) => f[0] === g)?.[2] ?? Number.NaN);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`USER ${user} does not resolve in ${root}/etc/passwd`);
  return { uid, gid, name: pw?.[0] ?? u };
}

/** `--chown=user:group` to ids, resolved in the target tree (as the builder does). */
function chownIds(root: string, spec: string | undefined): { uid: number; gid: number } {
  if (!spec) return { uid: 0, gid: 0 };
  return resolveUser(root, spec.includes(":") ? spec : `${spec}:${spec}`);
}

/** Copies a file, directory (its contents) or symlink, keeping modes; owner root or --chown. */
function copyTree(from: string, to: string, ids: { uid: number; gid: number }, skip: (src: string) => boolean = () => false): void {
  const st = lstatSync(from);
  if (st.isSymbolicLink()) {
    rmSync(to, { force: true });
    symlinkSync(readlinkSync(from), to);
    return;
  }
  if (st.isDirectory()) {
    mkdirSync(to, { recursive: true });
    chmodSync(to, st.mode & 0o7777);
    chownSync(to, ids.uid, ids.gid);
    for (const name of readdirSync(from)) {
      const src = join(from, name);
      if (!skip(src)) copyTree(src, join(to, name), ids, skip);
    }
    return;
  }
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  chmodSync(to, st.mode & 0o7777);
  chownSync(to, ids.uid, ids.gid);
}

/** Under systemd-nspawn in `merged` (host network, as a builder's RUN): /bin/sh -c for shell form. */
let machines = 0;
function nspawnArgs(merged: string, opts: { user?: string; cwd: string; env: Record<string, string>; binds?: string[] }): string[] {
  return [
    "systemd-nspawn",
    "-q",
    "-D",
    merged,
    // A name of its own: nspawn keeps per-machine state under /run/systemd/nspawn by name, and other
    // tests' containers on this machine are called after their directory ("merged") too.
    `--machine=pexd-image-${process.pid}-${++machines}`,
    "--register=no",
    "--keep-unit",
    "--as-pid2",
    `--chdir=${opts.cwd}`,
    ...(opts.user ? [`--user=${opts.user}`] : []),
    ...(opts.binds ?? []).map((b) => `--bind=${b}`),
    ...Object.entries(opts.env).map(([k, v]) => `--setenv=${k}=${v}`),
    "--",
  ];
}

/**
 * Applies `stage` to `merged`: RUN, COPY (from `context` or, with --from, from `stageRoots`), ENV,
 * ARG, WORKDIR, USER, VOLUME (directories created). The image-config instructions are recorded.
 */
async function applyStage(
  stage: Stage,
  merged: string,
  opts: { context: string; stageRoots: Record<string, string>; baseEnv?: Record<string, string>; runEnv?: Record<string, string> },
): Promise<Applied> {
  const config: StageConfig = { args: {}, env: { ...opts.baseEnv }, labels: {}, workdir: "/", volumes: [], expose: [] };
  const runs: Applied["runs"] = [];
  const ignored = dockerignore(opts.context);
  const vars = () => ({ ...config.args, ...config.env });
  const inTree = (p: string) => join(merged, posix.resolve(config.workdir, p));
  for (const ins of stage.instructions.slice(1)) {
    switch (ins.cmd) {
      case "RUN": {
        const argv = ins.exec ?? ["/bin/sh", "-c", ins.rest];
        const t0 = performance.now();
        const user = config.user?.split(":")[0];
        mkdirSync(inTree("."), { recursive: true });
        const env = { ...opts.runEnv, ...vars() };
        const r = await run([...nspawnArgs(merged, { user, cwd: config.workdir, env }), ...argv], { timeoutMs: 600_000 });
        const ms = Math.round(performance.now() - t0);
        runs.push({ line: ins.line, ms });
        log(`RUN (line ${ins.line}, ${ms} ms): ${ins.rest.replace(/\s+/g, " ").slice(0, 100)}`);
        if (r.code !== 0)
          throw new Error(`RUN at Dockerfile line ${ins.line} exited ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
        break;
      }
      case "COPY":
      case "ADD": {
        if (ins.cmd === "ADD") throw new Error(`Dockerfile line ${ins.line}: ADD is not interpreted by this test`);
        const { srcs, dest } = copyArgs(ins, vars());
        const ids = chownIds(merged, ins.flags.chown);
        const destAbs = posix.resolve(config.workdir, dest);
        const toDir = dest.endsWith("/") || srcs.length > 1;
        for (const src of srcs) {
          if (/[*?[]/.test(src)) throw new Error(`Dockerfile line ${ins.line}: wildcards are not interpreted by this test`);
          let from: string;
          let skip: (p: string) => boolean = () => false;
          if (ins.flags.from) {
            const root = opts.stageRoots[ins.flags.from];
            if (!root) throw new Error(`Dockerfile line ${ins.line}: no stage ${ins.flags.from}`);
            from = join(root, posix.resolve("/", src));
          } else {
            const rel = posix.normalize(src).replace(/^\/+|\/+$/g, "");
            if (rel.startsWith("..")) throw new Error(`Dockerfile line ${ins.line}: ${src} is outside the context`);
            from = join(opts.context, rel);
            if (rel !== "." && ignored(rel)) throw new Error(`Dockerfile line ${ins.line}: ${src} is excluded by .dockerignore`);
            skip = (p) => ignored(relative(opts.context, p));
          }
          if (!existsSync(from)) throw new Error(`Dockerfile line ${ins.line}: ${src} does not exist (${from})`);
          const st = statSync(from);
          const target = st.isDirectory() || !toDir ? destAbs : posix.join(destAbs, posix.basename(src));
          // A file copied as a symlink's target (the builder follows the source path).
          if (st.isFile() && lstatSync(from).isSymbolicLink()) {
            mkdirSync(dirname(join(merged, target)), { recursive: true });
            copyFileSync(from, join(merged, target));
            chmodSync(join(merged, target), st.mode & 0o7777);
            chownSync(join(merged, target), ids.uid, ids.gid);
          } else copyTree(from, join(merged, target), ids, skip);
        }
        break;
      }
      case "ENV":
        for (const [k, v] of pairs(ins.rest, vars())) config.env[k] = v;
        break;
      case "ARG":
        for (const w of words(ins.rest)) {
          const i = w.indexOf("=");
          if (i < 0) config.args[w] = "";
          else config.args[w.slice(0, i)] = expand(w.slice(i + 1), vars());
        }
        break;
      case "WORKDIR":
        config.workdir = posix.resolve(config.workdir, expand(ins.rest.trim(), vars()));
        mkdirSync(join(merged, config.workdir), { recursive: true });
        break;
      case "VOLUME":
        for (const v of (ins.exec ?? ins.rest.trim().split(/\s+/)).map((x) => expand(x, vars()))) {
          config.volumes.push(v);
          mkdirSync(join(merged, v), { recursive: true });
        }
        break;
      case "USER":
        config.user = expand(ins.rest.trim(), vars());
        resolveUser(merged, config.user); // it must exist by now
        break;
      case "LABEL":
      case "EXPOSE":
      case "ENTRYPOINT":
      case "CMD":
      case "HEALTHCHECK":
      case "STOPSIGNAL":
        break; // image configuration only: read with stageConfig()
      default:
        throw new Error(`Dockerfile line ${ins.line}: ${ins.cmd} is not interpreted by this test`);
    }
  }
  const c = stageConfig(stage);
  return { config: { ...c, env: config.env, workdir: config.workdir, ...(config.user ? { user: config.user } : {}) }, runs };
}

/** Child PIDs of a process (all its threads), from /proc. */
function children(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) => {
      try {
        return readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const c of children(pid)) out.push(c, ...descendants(c));
  return out;
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** Real, effective, saved and filesystem ids of a process, from /proc/PID/status. */
function ids(pid: number): { uid: number[]; gid: number[]; groups: number[] } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const nums = (k: string) => (new RegExp(`^${k}:\\s*(.*)$`, "m").exec(status)?.[1] ?? "").trim().split(/\s+/).filter(Boolean).map(Number);
  return { uid: nums("Uid"), gid: nums("Gid"), groups: nums("Groups") };
}

/** Every path under `dir` (itself included) with its owner. */
function owners(dir: string): { path: string; uid: number; gid: number }[] {
  const out = [{ path: ".", uid: statSync(dir).uid, gid: statSync(dir).gid }];
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const st = lstatSync(join(dir, name));
    out.push({ path: name, uid: st.uid, gid: st.gid });
  }
  return out;
}

const unavailable = skipping("root", "systemd");

describe.skipIf(unavailable)("the image's stages applied to a Debian bookworm root (systemd-nspawn; no container engine)", () => {
  const stages = parseDockerfile(dockerfileText());
  const finalStage = stages.at(-1)!;
  const buildStages = stages.slice(0, -1);
  let buildBox: Container | undefined;
  let runBox: Container | undefined;
  let final: Applied | undefined;
  let volume = "";
  let user = { uid: -1, gid: -1, name: "" };
  let port = 0;
  const token = `image-test-${process.pid}`;
  /** The running container: nspawn's process and the entrypoint's PID (host namespace). */
  let box: { nspawn: ReturnType<typeof Bun.spawn>; untrack: () => void; pid: number; log: string } | undefined;
  const timings: Record<string, number> = {};

  const stopBox = async () => {
    if (!box) return;
    const b = box;
    box = undefined;
    for (const pid of [b.pid, ...descendants(b.nspawn.pid)].reverse()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    await Promise.race([b.nspawn.exited, Bun.sleep(10_000)]);
    if (b.nspawn.exitCode === null && b.nspawn.signalCode === null) b.nspawn.kill("SIGKILL");
    await b.nspawn.exited;
    b.untrack();
  };

  /**
   * `docker run -e PEXD_PORT=… -e PEXD_API_TOKEN=… -v <volume>:<VOLUME> image`: the ENTRYPOINT as the
   * USER, with the image's ENV, in its WORKDIR, the named volume bound at the VOLUME path. Host
   * network: PEXD_PORT is overridden with a free port (the image's EXPOSE port may be taken here).
   */
  const startBox = async () => {
    if (!runBox || !final) throw new Error("no image root");
    const cfg = final.config;
    const env = { ...cfg.env, PEXD_PORT: String(port), PEXD_API_TOKEN: token };
    const argv = [...(cfg.entrypoint ?? []), ...(cfg.cmd ?? [])];
    const logFile = join(runBox.work, `run-${Date.now()}.log`);
    const nspawn = Bun.spawn(
      [
        ...nspawnArgs(runBox.merged, { user: cfg.user?.split(":")[0], cwd: cfg.workdir, env, binds: [`${volume}:${cfg.volumes[0]}`] }),
        ...argv,
      ],
      { stdin: "ignore", stdout: Bun.file(logFile), stderr: Bun.file(logFile) },
    );
    const untrack = reapOnExit(nspawn);
    const t0 = performance.now();
    // Polls until `check` answers; fails at once (with nspawn's output) when the container exits.
    const waitFor = async <T>(what: string, check: () => Promise<T | undefined>): Promise<T> => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (nspawn.exitCode !== null || nspawn.signalCode !== null)
          throw new Error(
            `the container exited (${nspawn.exitCode ?? nspawn.signalCode}) before ${what}:\n${await Bun.file(logFile).text()}`,
          );
        const v = await check().catch(() => undefined);
        if (v !== undefined) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${await Bun.file(logFile).text()}`);
        await Bun.sleep(25);
      }
    };
    const pid = await waitFor("the entrypoint to start", async () =>
      descendants(nspawn.pid).find((p) => comm(p) === posix.basename(argv[0]!)),
    );
    box = { nspawn, untrack, pid, log: logFile };
    await waitFor("GET /health from the host", async () => {
      const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
      return r.status === 200 ? true : undefined;
    });
    return Math.round(performance.now() - t0);
  };

  /** The HEALTHCHECK's command as `docker` runs it: a second process in the container, as the USER. */
  const healthcheck = async () => {
    if (!box || !final) throw new Error("not running");
    const cfg = final.config;
    const env = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ...cfg.env, PEXD_PORT: String(port) };
    const argv = cfg.healthcheck?.exec ?? [];
    return run(
      [
        "nsenter",
        "-t",
        String(box.pid),
        "-a",
        "-S",
        String(user.uid),
        "-G",
        String(user.gid),
        `--wdns=${cfg.workdir}`,
        "env",
        "-i",
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
        ...argv,
      ],
      { timeoutMs: 30_000 },
    );
  };

  const post = async (path: string) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
    expect(r.status).toBe(200);
    return (await r.json()) as { index: number; value: string };
  };

  beforeAll(async () => {
    need("root", "systemd");
    const why = containerUnavailable();
    if (why) throw new Error(`systemd-nspawn cannot run here: ${why} (PEXD_TEST_SKIP=systemd skips these tests)`);
    const root = await ensureRoot(log);
    await cleanupStale(tmpdir(), "pexd-image-build-");
    await cleanupStale(tmpdir(), "pexd-image-run-");
    buildBox = await Container.create(root, join(tmpdir(), `pexd-image-build-${process.pid}`));
    runBox = await Container.create(root, join(tmpdir(), `pexd-image-run-${process.pid}`));
    port = await deadPort();
  }, 900_000);

  afterAll(async () => {
    await stopBox();
    await buildBox?.dispose();
    await runBox?.dispose();
  }, 120_000);

  test("the build stage, run as written in the stand-in for oven/bun, builds the executable from only what it copies", async () => {
    expect(buildStages.length).toBe(1);
    const b = buildStages[0]!;
    const tag = /oven\/bun:(\d+\.\d+\.\d+)/.exec(b.image)?.[1];
    // The stand-in for the Bun image: the bookworm root plus this test's Bun as /usr/local/bin/bun.
    expect(Bun.version).toBe(tag!);
    const bunPath = join(buildBox!.merged, "usr/local/bin/bun");
    copyFileSync(process.execPath, bunPath);
    chmodSync(bunPath, 0o755);
    symlinkSync("bun", join(buildBox!.merged, "usr/local/bin/bunx"));
    log(`build stage: FROM ${b.image} -> ${relative(tmpdir(), buildBox!.merged)} (Debian bookworm root + Bun ${Bun.version})`);
    const t0 = performance.now();
    // This machine may reach the npm registry through a TLS-inspecting proxy whose CA only the host
    // trusts: the host's bundle (copied into the root by Container.create) is named to the RUN steps,
    // as a `docker build` on such a network would need. Nothing of it reaches the final stage.
    const runEnv: Record<string, string> = { NODE_EXTRA_CA_CERTS: CA_BUNDLE };
    const applied = await applyStage(b, buildBox!.merged, { context: ROOT, stageRoots: {}, runEnv });
    timings.buildStage = Math.round(performance.now() - t0);
    log(`build stage applied in ${timings.buildStage} ms`);
    // Only what the stage copied is in its WORKDIR (plus node_modules from the install).
    const workdir = join(buildBox!.merged, applied.config.workdir);
    const present = readdirSync(workdir).sort();
    log(`build stage WORKDIR ${applied.config.workdir}: ${present.join(" ")}`);
    expect(present).not.toContain("test");
    expect(present).not.toContain(".git");
    expect(present).not.toContain("bench");
    const outfile = posix.resolve(applied.config.workdir, buildRun(b)!.outfile);
    const exe = join(buildBox!.merged, outfile);
    expect(statSync(exe).mode & 0o111).not.toBe(0);
    log(`${outfile}: ${(statSync(exe).size / 1048576).toFixed(1)} MiB`);
    // Dev dependencies were not installed (the production install sufficed for the build).
    expect(existsSync(join(workdir, "node_modules/typescript"))).toBe(false);
    expect(existsSync(join(workdir, "node_modules/hono"))).toBe(true);
  }, 900_000);

  test("the final stage, applied to the stand-in for debian:bookworm-slim, holds the executable and a non-root user", async () => {
    if (!existsSync(join(buildBox!.merged, "usr/local/bin/bun"))) throw new Error("the build stage did not run");
    log(`final stage: FROM ${finalStage.image} -> the same Debian bookworm root (a superset of bookworm-slim)`);
    const stageRoots: Record<string, string> = {};
    for (const s of buildStages) {
      stageRoots[String(s.index)] = buildBox!.merged;
      if (s.name) stageRoots[s.name] = buildBox!.merged;
    }
    const t0 = performance.now();
    final = await applyStage(finalStage, runBox!.merged, { context: ROOT, stageRoots });
    timings.finalStage = Math.round(performance.now() - t0);
    const cfg = final.config;
    user = resolveUser(runBox!.merged, cfg.user!);
    log(`final stage applied in ${timings.finalStage} ms; USER ${cfg.user} = ${user.name} (${user.uid}:${user.gid})`);
    expect(user.uid).toBeGreaterThan(0);
    expect(user.gid).toBeGreaterThan(0);
    const exe = join(runBox!.merged, cfg.entrypoint![0]!);
    const st = statSync(exe);
    // Root's, not writable by the service's user.
    expect(st.uid).toBe(0);
    expect((st.mode & 0o777).toString(8)).toBe("755");
    expect(readFileSync(join(runBox!.merged, CA_BUNDLE), "utf8")).toContain("BEGIN CERTIFICATE");
    // The VOLUME directory belongs to the USER.
    const vol = statSync(join(runBox!.merged, cfg.volumes[0]!));
    expect([vol.uid, vol.gid]).toEqual([user.uid, user.gid]);
    expect(cfg.env.PEXD_DATA_DIR).toBe(cfg.volumes[0]!);
    // A named volume starts as a copy of the image's directory (contents, owner, mode).
    volume = join(runBox!.work, "volume");
    copyTree(join(runBox!.merged, cfg.volumes[0]!), volume, { uid: vol.uid, gid: vol.gid });
  }, 300_000);

  test("the ENTRYPOINT runs as the USER with the image's ENV and answers /health; the HEALTHCHECK passes inside", async () => {
    if (!final || !volume) throw new Error("the final stage was not applied");
    timings.start = await startBox();
    log(`entrypoint healthy ${timings.start} ms after systemd-nspawn started (PEXD_PORT=${port}: host network)`);
    const id = ids(box!.pid);
    expect(id.uid).toEqual([user.uid, user.uid, user.uid, user.uid]);
    expect(id.gid).toEqual([user.gid, user.gid, user.gid, user.gid]);
    const r = await healthcheck();
    log(`HEALTHCHECK ${JSON.stringify(final.config.healthcheck?.exec)}: exit ${r.code}, ${r.stdout.trim()}`);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("/health: 200");
  }, 120_000);

  test("/next persists in the VOLUME across kill -9 and a new start; the volume's files are the USER's", async () => {
    if (!box) throw new Error("not running");
    const first = await post("/next");
    const second = await post("/next");
    expect(second.index).toBe(first.index + 1);
    const pid = box.pid;
    process.kill(pid, "SIGKILL");
    await box.nspawn.exited;
    box.untrack();
    box = undefined;
    // The health check fails when nothing answers (it can fail): the same command, as the USER.
    const cfg = final!.config;
    const down = await run(
      [
        ...nspawnArgs(runBox!.merged, { user: cfg.user?.split(":")[0], cwd: cfg.workdir, env: { ...cfg.env, PEXD_PORT: String(port) } }),
        ...(cfg.healthcheck?.exec ?? []),
      ],
      { timeoutMs: 30_000 },
    );
    log(`HEALTHCHECK with the entrypoint killed: exit ${down.code}, ${down.stdout.trim()}`);
    expect(down.code).toBe(1);
    timings.restart = await startBox();
    log(`restarted after kill -9, healthy in ${timings.restart} ms`);
    const current = (await (await fetch(`http://127.0.0.1:${port}/current`)).json()) as { index: number };
    expect(current.index).toBe(second.index);
    expect((await post("/next")).index).toBe(second.index + 1);
    // The state is in the volume (not in the container's own layer), and all of it is the USER's.
    const files = owners(volume);
    log(`volume: ${files.map((f) => f.path).join(" ")}`);
    expect(files.some((f) => /\.sqlite$/.test(f.path))).toBe(true);
    expect(files.filter((f) => f.uid !== user.uid || f.gid !== user.gid)).toEqual([]);
    const layer = join(runBox!.work, "upper", final!.config.volumes[0]!);
    expect(existsSync(layer) ? readdirSync(layer) : []).toEqual([]);
    await stopBox();
    log(`timings (ms): ${JSON.stringify(timings)}`);
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// deploy/compose.yaml and deploy/nginx.conf

type Yaml = Record<string, unknown>;

/** Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $$. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g, (m, name, colon, op, arg) => {
    if (m === "$$") return "$";
    const v = env[name as string];
    const unset = v === undefined || (colon === ":" && v === "");
    if (op === "-") return unset ? (arg as string) : v!;
    if (op === "?") {
      if (unset) throw new Error(`required variable ${name} is missing: ${arg}`);
      return v!;
    }
    return v ?? "";
  });
}

function interpolateAll(node: unknown, env: Record<string, string>): unknown {
  if (typeof node === "string") return interpolate(node, env);
  if (Array.isArray(node)) return node.map((n) => interpolateAll(n, env));
  if (node && typeof node === "object") return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateAll(v, env)]));
  return node;
}

function referencedVariables(text: string): Set<string> {
  return new Set([...text.replace(/^\s*#.*$/gm, "").matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
}

function envFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

function parseYaml(text: string): Yaml {
  const yaml = (Bun as unknown as { YAML?: { parse(s: string): unknown } }).YAML;
  if (typeof yaml?.parse !== "function")
    throw new Error(`Bun ${Bun.version} has no Bun.YAML.parse: deploy/compose.yaml cannot be checked (Bun ≥ 1.2.21 has it)`);
  return yaml.parse(text) as Yaml;
}

const envList = (e: unknown): Record<string, string> => {
  if (!e) return {};
  if (Array.isArray(e))
    return Object.fromEntries(
      e.map((x) => {
        const s = String(x);
        const i = s.indexOf("=");
        return i < 0 ? [s, ""] : [s.slice(0, i), s.slice(i + 1)];
      }),
    );
  return Object.fromEntries(Object.entries(e as Record<string, unknown>).map(([k, v]) => [k, v === null ? "" : String(v)]));
};

/** nginx directives of a block (`upstream pexd`, `location /` …): statements without comments, normalised. */
function nginxBlock(conf: string, header: RegExp): string[] {
  const text = conf.replace(/#.*$/gm, "");
  const m = header.exec(text);
  if (!m) return [];
  let depth = 0;
  let i = m.index + m[0].length;
  const start = i;
  for (; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}") {
      if (depth === 0) break;
      depth--;
    }
  }
  return text
    .slice(start, i)
    .split(/[;{}]/)
    .map((s) => s.trim().replace(/\s+/g, " "))
    .filter(Boolean);
}

describe("deploy/compose.yaml", () => {
  const text = readFileSync(COMPOSE, "utf8");
  const example = envFile(readFileSync(ENV_EXAMPLE, "utf8"));
  const raw = parseYaml(text);
  const compose = interpolateAll(raw, example) as Yaml;
  const services = compose.services as Record<string, Yaml>;
  const stages = parseDockerfile(dockerfileText());
  const imageConfig = stageConfig(stages.at(-1)!);
  /** Services built from the repository's Dockerfile: the pexd instances. */
  const instances = Object.entries(services)
    .filter(([, s]) => {
      const b = s.build as Yaml | undefined;
      return b && join(ROOT, "deploy", String(b.context)) === ROOT && String(b.dockerfile ?? "Dockerfile") === "Dockerfile";
    })
    .map(([name]) => name);
  const instancePort = Number(imageConfig.env.PEXD_PORT ?? 8081);
  const subnet = () =>
    (((compose.networks as Yaml)?.default as Yaml)?.ipam as { config?: { subnet?: string }[] } | undefined)?.config?.[0]?.subnet;

  test("Bun.YAML.parse exists in this Bun and reads the file", () => {
    expect(typeof (Bun as unknown as { YAML?: { parse?: unknown } }).YAML?.parse).toBe("function");
    expect(Object.keys(services).sort()).toEqual(["nginx", "pexd1", "pexd2", "postgres", "redis"]);
    expect(instances).toEqual(["pexd1", "pexd2"]);
  });

  test("images are the official ones with pinned majors", () => {
    expect(String(services.postgres!.image)).toMatch(/^(docker\.io\/library\/)?postgres:(15|16)(\.\d+)*(-[a-z]+)?$/);
    expect(String(services.redis!.image)).toMatch(/^(docker\.io\/library\/)?redis:7(\.\d+)*(-[a-z]+)?$/);
    expect(String(services.nginx!.image)).toMatch(/^(docker\.io\/library\/)?nginx:\d+(\.\d+)*(-[a-z]+)?$/);
  });

  test("only nginx publishes a port; nothing uses the host's network", () => {
    const publishing = Object.entries(services)
      .filter(([, s]) => s.ports !== undefined)
      .map(([n]) => n);
    expect(publishing).toEqual(["nginx"]);
    for (const s of Object.values(services)) expect(s.network_mode).toBeUndefined();
    const ports = (services.nginx!.ports as string[]).map(String);
    expect(ports).toHaveLength(1);
    expect(ports[0]).toMatch(/^\d+:80$/);
  });

  test("every dependency waits for a health check that exists", () => {
    const hasHealthcheck = (name: string) => {
      const s = services[name];
      if (!s) return false;
      if (s.healthcheck && !(s.healthcheck as Yaml).disable) return true;
      return instances.includes(name) && imageConfig.healthcheck?.exec !== undefined;
    };
    const deps: [string, string][] = [];
    for (const [name, s] of Object.entries(services)) {
      const d = s.depends_on;
      if (!d) continue;
      // The long form only: the short (list) form would not wait for health.
      expect(Array.isArray(d)).toBe(false);
      for (const [target, cond] of Object.entries(d as Record<string, Yaml>)) {
        expect(cond.condition).toBe("service_healthy");
        expect(hasHealthcheck(target)).toBe(true);
        deps.push([name, target]);
      }
    }
    for (const i of instances) {
      expect(deps).toContainEqual([i, "postgres"]);
      expect(deps).toContainEqual([i, "redis"]);
      expect(deps).toContainEqual(["nginx", i]);
      // nginx resolves the instances' names once: it is restarted when compose recreates one.
      expect(((services.nginx!.depends_on as Record<string, Yaml>)[i] as Yaml).restart).toBe(true);
    }
    const test = (name: string) => ((services[name]!.healthcheck as Yaml).test as string[]).join(" ");
    expect(test("postgres")).toContain("pg_isready");
    expect(test("redis")).toContain("redis-cli ping");
    // The instances' check is the image's HEALTHCHECK command.
    for (const i of instances) expect((services[i]!.healthcheck as Yaml).test).toEqual(["CMD", ...(imageConfig.healthcheck?.exec ?? [])]);
  });

  test("PostgreSQL keeps its data in a named volume with its password from the environment; Redis persists nothing", () => {
    const pg = services.postgres!;
    const pgRaw = (raw.services as Record<string, Yaml>).postgres!;
    expect(envList(pgRaw.environment).POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:-[^}]+\}$/);
    const vol = (pg.volumes as string[]).map(String).find((v) => v.endsWith(":/var/lib/postgresql/data"));
    expect(vol).toBeDefined();
    expect(Object.keys((compose.volumes as Yaml) ?? {})).toContain(vol!.split(":")[0]!);
    const redis = services.redis!;
    expect(redis.volumes).toBeUndefined();
    const cmd = (redis.command as string[]).join(" ");
    expect(cmd).toContain("--appendonly no");
    expect(redis.command as string[]).toContain("--save");
    expect((redis.command as string[])[(redis.command as string[]).indexOf("--save") + 1]).toBe("");
  });

  test("each instance's environment passes pexd's own configuration parser and points at the services", () => {
    const pg = envList(services.postgres!.environment);
    const net = subnet();
    expect(net).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
    for (const i of instances) {
      const s = services[i]!;
      // As docker run would: the image's ENV, then the service's environment over it.
      const env = { ...imageConfig.env, ...envList(s.environment) };
      const config = parseConfig(env);
      expect(config.host).toBe("0.0.0.0");
      expect(config.port).toBe(instancePort);
      expect(config.apiToken).toBe(example.PEXD_API_TOKEN!);
      const db = new URL(config.databaseUrl!);
      expect(db.hostname).toBe("postgres");
      expect(decodeURIComponent(db.username)).toBe(pg.POSTGRES_USER!);
      expect(decodeURIComponent(db.password)).toBe(pg.POSTGRES_PASSWORD!);
      expect(db.pathname).toBe(`/${pg.POSTGRES_DB}`);
      expect(new URL(config.redisUrl!).hostname).toBe("redis");
      // Trusted proxies: the compose network's declared subnet.
      expect(env.PEXD_TRUSTED_PROXIES).toBe(net!);
      expect(config.limits.trustedProxies).toHaveLength(1);
      // Its data directory is a named volume at the image's VOLUME.
      const vols = (s.volumes as string[]).map(String);
      expect(vols.some((v) => v.endsWith(`:${imageConfig.volumes[0]}`) && !v.startsWith("."))).toBe(true);
    }
    // The instances do not share a data volume.
    const dataVols = instances.map((i) =>
      (services[i]!.volumes as string[]).map(String).find((v) => v.endsWith(`:${imageConfig.volumes[0]}`)),
    );
    expect(new Set(dataVols).size).toBe(instances.length);
  });

  test("the API token is required: without it compose refuses to start (no default token)", () => {
    const { PEXD_API_TOKEN: _, ...without } = example;
    expect(() => interpolateAll(raw, without)).toThrow(/PEXD_API_TOKEN/);
    expect(() => interpolateAll(raw, { ...without, PEXD_API_TOKEN: "" })).toThrow(/PEXD_API_TOKEN/);
  });

  test("deploy/.env.example documents exactly the variables the compose file reads", () => {
    expect([...referencedVariables(text)].sort()).toEqual(Object.keys(example).sort());
  });

  test("nginx mounts deploy/nginx.conf; its upstream is the instances, its proxy settings those of systemd/nginx-pexd.conf", () => {
    const vols = (services.nginx!.volumes as string[]).map(String);
    const mount = vols.find((v) => v.includes(":/etc/nginx/conf.d/"));
    expect(mount).toBeDefined();
    expect(join(ROOT, "deploy", mount!.split(":")[0]!)).toBe(NGINX_CONF);
    expect(mount).toMatch(/:ro$/);
    const conf = readFileSync(NGINX_CONF, "utf8");
    const shipped = readFileSync(SHIPPED_NGINX, "utf8");
    const servers = nginxBlock(conf, /upstream\s+pexd\s*\{/).filter((d) => d.startsWith("server "));
    expect(servers.map((s) => s.split(" ")[1])).toEqual(instances.map((i) => `${i}:${instancePort}`));
    // Same per-server options and keepalive as the shipped file.
    const opts = (c: string) =>
      nginxBlock(c, /upstream\s+pexd\s*\{/).map((d) => (d.startsWith("server ") ? d.split(" ").slice(2).join(" ") : d));
    expect(new Set(opts(conf))).toEqual(new Set(opts(shipped)));
    expect(nginxBlock(conf, /location\s+\/\s*\{/)).toEqual(nginxBlock(shipped, /location\s+\/\s*\{/));
    expect(nginxBlock(conf, /map\s+\$http_upgrade\s+\$pexd_connection\s*\{/)).toEqual(
      nginxBlock(shipped, /map\s+\$http_upgrade\s+\$pexd_connection\s*\{/),
    );
    const serverDirectives = (c: string) => nginxBlock(c, /\bserver\s*\{/).filter((d) => !d.startsWith("listen"));
    expect(serverDirectives(conf)).toEqual(serverDirectives(shipped));
    expect(nginxBlock(conf, /\bserver\s*\{/)).toContain("listen 80");
    expect(conf).not.toMatch(/^\s*resolver\b/m);
  });

  describe.skipIf(skipping("nginx"))("nginx -t", () => {
    let prefix = "";
    afterAll(() => {
      if (prefix) rmSync(prefix, { recursive: true, force: true });
    });
    /** deploy/nginx.conf inside an http block as the official image includes it, service names → 127.0.0.1. */
    const nginxT = async (site: string) => {
      const rendered = site.replace(/(\bserver\s+)([a-z][a-z0-9_-]*)(:\d+)/g, (_m, a, name, p) =>
        instances.includes(name as string) ? `${a}127.0.0.1${p}` : `${a}${name}${p}`,
      );
      writeFileSync(join(prefix, "default.conf"), rendered);
      writeFileSync(
        join(prefix, "nginx.conf"),
        `pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  include ${prefix}/default.conf;
}
`,
      );
      const bin = Bun.which("nginx") ?? Bun.which("nginx", { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" });
      if (!bin) throw new Error("nginx is not installed");
      return run([bin, "-t", "-p", prefix, "-c", join(prefix, "nginx.conf")], { timeoutMs: 30_000 });
    };

    beforeAll(() => {
      need("nginx");
      prefix = mkdtempSync(join(tmpdir(), "pexd-image-nginx-"));
    });

    test("accepts deploy/nginx.conf", async () => {
      const r = await nginxT(readFileSync(NGINX_CONF, "utf8"));
      log(`nginx -t: ${r.stderr.trim().replace(/\n/g, " | ")}`);
      expect(r.stderr).toContain("syntax is ok");
      expect(r.stderr).toContain("test is successful");
      expect(r.code).toBe(0);
    });

    test("rejects a broken one (the check can fail)", async () => {
      const r = await nginxT(readFileSync(NGINX_CONF, "utf8").replace("proxy_http_version 1.1;", "proxy_http_version 1.1"));
      expect(r.code).not.toBe(0);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// A real container engine, where one is installed: tried and reported, never required.

const podman = Bun.which("podman");
describe.skipIf(!podman)("podman build (reported, not required)", () => {
  test("podman build of the Dockerfile: outcome printed", async () => {
    const tag = `localhost/pexd-image-test:${process.pid}`;
    const t0 = performance.now();
    const r = await run([podman!, "build", "--pull=missing", "-t", tag, "-f", DOCKERFILE, ROOT], { timeoutMs: 600_000 });
    const ms = Math.round(performance.now() - t0);
    const tail = `${r.stdout}\n${r.stderr}`.trim().split("\n").slice(-6).join("\n  ");
    log(`podman build exited ${r.code} after ${ms} ms:\n  ${tail}`);
    if (r.code === 0) await run([podman!, "rmi", tag]);
    expect(typeof r.code).toBe("number");
  }, 660_000);
});
