// `bun run scripts/build.ts [--outfile dist/pexd] [--target bun-linux-x64]`: compiles pexd into one
// self-contained executable (Bun's runtime + the bundled program), which runs from any directory
// without node_modules or the source tree. Everything the service reads at run time is inside:
//  * the migrations of db/sqlite/ and db/postgres/: text imports in src/runtime/bun/migrations.ts,
//    checked here against the directories (a migration missing from the list stops the build);
//  * the API reference's and the dashboard's assets: file imports in src/runtime/bun/bun.runtime.ts;
//  * every Worker (`new Worker(new URL("./x.ts", import.meta.url))` under src/): an extra entry point,
//    as `bun build --compile` requires.
// The executable reads no .env nor bunfig.toml from its working directory: configuration is the
// environment only, as documented.
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { MIGRATION_FILE, PG_MIGRATIONS, readMigrationDir, SQLITE_MIGRATIONS, type MigrationText } from "../src/runtime/bun/migrations.ts";

export const ROOT = resolve(import.meta.dir, "..");
export const ENTRY = join(ROOT, "src/runtime/bun/cli.ts");
export const DEFAULT_OUTFILE = "dist/pexd";
export const TARGETS = [
  "bun-linux-x64",
  "bun-linux-arm64",
  "bun-linux-x64-musl",
  "bun-linux-x64-baseline-musl",
  "bun-linux-arm64-musl",
  "bun-darwin-x64",
  "bun-darwin-arm64",
  "bun-windows-x64",
  "bun-windows-arm64",
] as const;
export type Target = (typeof TARGETS)[number];

const USAGE = `usage: bun run scripts/build.ts [options]
Compiles src/runtime/bun/cli.ts (with its workers, migrations and web assets) into one executable.

Options:
  --outfile PATH      the executable to write (default: ${DEFAULT_OUTFILE} in the repository)
  --target TARGET     cross-compile for ${TARGETS.join(", ")}
                      (default: this machine's platform)
  --no-bytecode       skip the precompiled bytecode (a smaller file, a slower start)
  --no-minify         keep identifiers and whitespace
  --no-sourcemap      no embedded source map (stack traces then point into the bundle)
  -h, --help          this text

Exit status: 0 built, 1 the build failed, 64 bad arguments.`;

const WORKER_CALL = /\bnew Worker\s*\(/g;
const WORKER_URL = /\bnew Worker\s*\(\s*new URL\(\s*["'](\.{1,2}\/[^"']+)["']\s*,\s*import\.meta\.url\s*\)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return /\.(ts|js)$/.test(f) && !/\.(test|d)\.ts$/.test(f) ? [p] : [];
  });
}

/**
 * Worker scripts started under src/, as absolute paths: each becomes an entry point of the executable.
 * A `new Worker(…)` whose script is not a literal `new URL("./…", import.meta.url)` is an error, since
 * the executable could not contain it.
 */
export function workerEntrypoints(srcDir = join(ROOT, "src")): { entrypoints: string[]; problems: string[] } {
  const entrypoints = new Set<string>();
  const problems: string[] = [];
  for (const file of sourceFiles(srcDir)) {
    const code = readFileSync(file, "utf8")
      .split("\n")
      .map((line) => line.replace(/^\s*(\/\/|\*|\/\*).*$/, ""))
      .join("\n");
    const calls = code.match(WORKER_CALL)?.length ?? 0;
    const specs = [...code.matchAll(WORKER_URL)].map((m) => m[1]!);
    const found = specs.map((spec) => resolve(dirname(file), spec));
    if (found.length !== calls) {
      problems.push(
        `${relative(ROOT, file)}: a Worker is started from a script the build cannot find (use new Worker(new URL("./x.ts", import.meta.url)))`,
      );
    }
    for (const [i, w] of found.entries()) {
      try {
        statSync(w);
        entrypoints.add(w);
      } catch {
        problems.push(`${relative(ROOT, file)}: the Worker script ${relative(ROOT, w)} does not exist`);
      }
      // Inside the executable import.meta.url is the executable's own path, so the URL resolves
      // against the entry's directory, not the calling file's: both must name the same script.
      if (resolve(dirname(ENTRY), specs[i]!) !== w) {
        problems.push(
          `${relative(ROOT, file)}: new URL(${JSON.stringify(specs[i])}, import.meta.url) would not find the Worker inside the executable (start Workers from files in ${relative(ROOT, dirname(ENTRY))}/)`,
        );
      }
    }
  }
  return { entrypoints: [...entrypoints].sort(), problems };
}

function compareMigrations(label: string, dir: string, embedded: readonly MigrationText[]): string[] {
  const problems: string[] = [];
  const onDisk = readMigrationDir(dir);
  const listed = embedded.map((m) => m.name);
  const files = onDisk.map((m) => m.name);
  for (const name of files)
    if (!listed.includes(name)) problems.push(`${label}/${name} is not embedded: add it to src/runtime/bun/migrations.ts`);
  for (const name of listed) if (!files.includes(name)) problems.push(`${label}: ${name} is embedded but there is no such file`);
  for (const f of readdirSync(dir)) {
    if (!MIGRATION_FILE.test(f)) problems.push(`${label}/${f} is not named like a migration (NNNN_name.sql): it would be ignored`);
  }
  if (problems.length === 0) {
    if (listed.join("\n") !== files.join("\n"))
      problems.push(`${label}: src/runtime/bun/migrations.ts lists the migrations out of name order`);
    for (const m of embedded) {
      if (onDisk.find((d) => d.name === m.name)?.sql !== m.sql)
        problems.push(`${label}/${m.name}: the embedded text differs from the file`);
    }
  }
  return problems;
}

/** What keeps the executable from holding every migration on disk (empty: all embedded, in order). */
export function migrationProblems(root = ROOT): string[] {
  return [
    ...compareMigrations("db/sqlite", join(root, "db/sqlite"), SQLITE_MIGRATIONS),
    ...compareMigrations("db/postgres", join(root, "db/postgres"), PG_MIGRATIONS),
  ];
}

export interface BuildOptions {
  outfile?: string;
  target?: Target;
  bytecode?: boolean;
  minify?: boolean;
  sourcemap?: boolean;
}

/** Builds the executable; throws with the reasons when it cannot. Returns its absolute path and size. */
export async function buildPexd(opts: BuildOptions = {}): Promise<{ outfile: string; bytes: number; entrypoints: string[] }> {
  const workers = workerEntrypoints();
  const problems = [...migrationProblems(), ...workers.problems];
  if (problems.length) throw new Error(`cannot build a self-contained pexd:\n  ${problems.join("\n  ")}`);
  const outfile = resolve(opts.outfile ?? join(ROOT, DEFAULT_OUTFILE));
  mkdirSync(dirname(outfile), { recursive: true });
  const entrypoints = [ENTRY, ...workers.entrypoints];
  const result = await Bun.build({
    entrypoints,
    compile: {
      outfile,
      ...(opts.target ? { target: opts.target } : {}),
      autoloadDotenv: false,
      autoloadBunfig: false,
    },
    // keepNames: stack traces in the logs still name the functions (the embedded map gives the places).
    minify: (opts.minify ?? true) ? { whitespace: true, syntax: true, identifiers: true, keepNames: true } : false,
    sourcemap: (opts.sourcemap ?? true) ? "linked" : "none",
    bytecode: opts.bytecode ?? true,
    // Top-level await (cli.ts): ESM; bytecode would otherwise default to CommonJS.
    format: "esm",
    throw: false,
  });
  if (!result.success) {
    throw new Error(`bun build --compile failed:\n  ${result.logs.map((l) => String(l.message ?? l)).join("\n  ")}`);
  }
  // The source map is inside the executable too; the copies written beside it are not needed.
  for (const o of result.outputs) if (o.kind === "sourcemap") rmSync(o.path, { force: true });
  return { outfile, bytes: statSync(outfile).size, entrypoints: entrypoints.map((e) => relative(ROOT, e)) };
}

if (import.meta.main) {
  let values: {
    outfile?: string;
    target?: string;
    "no-bytecode"?: boolean;
    "no-minify"?: boolean;
    "no-sourcemap"?: boolean;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: Bun.argv.slice(2),
      options: {
        outfile: { type: "string" },
        target: { type: "string" },
        "no-bytecode": { type: "boolean" },
        "no-minify": { type: "boolean" },
        "no-sourcemap": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    process.stderr.write(`build: ${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
    process.exit(64);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (values.outfile !== undefined && values.outfile.trim() === "") {
    process.stderr.write(`build: --outfile needs a path\n${USAGE}\n`);
    process.exit(64);
  }
  if (values.target !== undefined && !(TARGETS as readonly string[]).includes(values.target)) {
    process.stderr.write(`build: unknown --target ${JSON.stringify(values.target)}\n${USAGE}\n`);
    process.exit(64);
  }
  const started = performance.now();
  try {
    const built = await buildPexd({
      outfile: values.outfile,
      target: values.target as Target | undefined,
      bytecode: !values["no-bytecode"],
      minify: !values["no-minify"],
      sourcemap: !values["no-sourcemap"],
    });
    const mib = (built.bytes / 1048576).toFixed(1);
    process.stdout.write(
      `built ${relative(process.cwd(), built.outfile) || built.outfile} (${mib} MiB) from ${built.entrypoints.join(" + ")} in ${Math.round(performance.now() - started)} ms\n`,
    );
  } catch (e) {
    process.stderr.write(`build: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
