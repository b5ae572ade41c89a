// Strict command lines for the runnable scripts of bench/ and scripts/ (issue 16): node:util parseArgs
// (strict) plus typed, validated numbers and a usage text rendered from the same spec. The rule:
//   --help / -h                      the usage on stdout, exit 0
//   an unknown option, a missing     the error and the usage on stderr, exit 64 (EX_USAGE)
//   value, a value of the wrong type
// both before the script does anything. `--name value` and `--name=value` both work; a value that
// starts with a dash needs the `=` form (`--offset=-5`). test/scripts-cli.test.ts holds every
// bench/*.ts and scripts/*.ts entry point to it.
//
//   const { values, fail } = parseCli({
//     usage: "bun run bench/x.ts [options]",
//     about: "What it measures, in one line.",
//     options: { duration: { type: "number", integer: true, min: 1, default: 5, arg: "S", help: "seconds per run" } },
//   });
//   values.duration; // number
import { parseArgs } from "node:util";

export const EX_USAGE = 64;

interface Common {
  help: string;
  /** One letter: `-x` as well as `--name`. */
  short?: string;
  /** The value's placeholder in the usage text (default N for numbers, VALUE for strings). */
  arg?: string;
}
export interface StringOption extends Common {
  type: "string";
  default?: string;
}
export interface NumberOption extends Common {
  type: "number";
  default?: number;
  /** Whole numbers only. */
  integer?: boolean;
  /** Smallest accepted value (default 0: no negatives unless the spec says so). */
  min?: number;
  max?: number;
}
export interface BooleanOption extends Common {
  type: "boolean";
}
export type OptionSpec = StringOption | NumberOption | BooleanOption;
export type OptionsSpec = Record<string, OptionSpec>;

export interface CliSpec<O extends OptionsSpec> {
  /** The synopsis, e.g. "bun run bench/x.ts [options]": names the script. */
  usage: string;
  /** One line: what the script does. */
  about: string;
  options: O;
  /** Positional arguments are refused unless described here (they stay strings: the script checks them). */
  positionals?: { name: string; help: string; max?: number };
  /** Free text after the options (environment variables, examples). */
  notes?: string;
}

type ValueOf<S> = S extends NumberOption ? number : S extends BooleanOption ? boolean : string;
/** Booleans are always set (false when absent); other options are undefined when absent without a default. */
export type CliValues<O extends OptionsSpec> = {
  [K in keyof O]: O[K] extends BooleanOption
    ? boolean
    : O[K] extends { default: string | number }
      ? ValueOf<O[K]>
      : ValueOf<O[K]> | undefined;
};

export type CliResult<O extends OptionsSpec> =
  | { kind: "ok"; values: CliValues<O>; positionals: string[] }
  | { kind: "help"; text: string }
  | { kind: "error"; message: string; text: string };

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** The usage text of a spec: synopsis, about, arguments, one line per option with its default, notes. */
export function usageText<O extends OptionsSpec>(spec: CliSpec<O>): string {
  const rows: [string, string][] = Object.entries(spec.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${name}${o.type === "boolean" ? "" : ` ${o.arg ?? (o.type === "number" ? "N" : "VALUE")}`}`;
    const dflt = o.type !== "boolean" && o.default !== undefined ? ` (default ${o.default})` : "";
    return [flag, o.help + dflt];
  });
  rows.push(["-h, --help", "this text"]);
  const pos: [string, string] | null = spec.positionals ? [`  ${spec.positionals.name}`, spec.positionals.help] : null;
  const width = Math.max(...rows.map(([f]) => f.length + 2), pos ? pos[0].length : 0) + 2;
  const line = (l: string, r: string) => `${l.padEnd(width)}${r}`;
  return [
    `usage: ${spec.usage}`,
    spec.about,
    ...(pos ? ["", "arguments:", line(pos[0], pos[1])] : []),
    "",
    "options:",
    ...rows.map(([f, h]) => line(`  ${f}`, h)),
    ...(spec.notes ? ["", spec.notes] : []),
  ].join("\n");
}

/** Parses argv against the spec without side effects (parseCli prints and exits on top of it). */
export function parseCliArgs<const O extends OptionsSpec>(spec: CliSpec<O>, argv: readonly string[]): CliResult<O> {
  if ("help" in spec.options) throw new Error("cli: --help is built in");
  const text = usageText(spec);
  const error = (message: string): CliResult<O> => ({ kind: "error", message, text });
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        ...Object.fromEntries(
          Object.entries(spec.options).map(([name, o]) => [
            name,
            { type: o.type === "boolean" ? ("boolean" as const) : ("string" as const), ...(o.short ? { short: o.short } : {}) },
          ]),
        ),
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: spec.positionals !== undefined,
    });
  } catch (e) {
    return error(e instanceof Error ? e.message : String(e));
  }
  if (parsed.values.help) return { kind: "help", text };
  const values: Record<string, string | number | boolean | undefined> = {};
  for (const [name, o] of Object.entries(spec.options)) {
    const raw = parsed.values[name];
    if (o.type === "boolean") {
      values[name] = raw === true;
      continue;
    }
    if (raw === undefined) {
      values[name] = o.default;
      continue;
    }
    const s = String(raw);
    if (s.trim() === "") return error(`--${name} needs a value`);
    if (o.type === "string") {
      values[name] = s;
      continue;
    }
    const n = Number(s);
    if (!NUMBER.test(s.trim()) || !Number.isFinite(n)) return error(`--${name}: not a number: ${JSON.stringify(s)}`);
    if (o.integer && !Number.isSafeInteger(n)) return error(`--${name}: not a whole number: ${JSON.stringify(s)}`);
    const min = o.min ?? 0;
    if (n < min) return error(`--${name}: must be at least ${min}, got ${s}`);
    if (o.max !== undefined && n > o.max) return error(`--${name}: must be at most ${o.max}, got ${s}`);
    values[name] = n;
  }
  const max = spec.positionals?.max;
  if (max !== undefined && parsed.positionals.length > max)
    return error(`at most ${max} argument${max === 1 ? "" : "s"}, got ${parsed.positionals.length}: ${parsed.positionals.join(" ")}`);
  return { kind: "ok", values: values as CliValues<O>, positionals: parsed.positionals };
}

export interface Cli<O extends OptionsSpec> {
  values: CliValues<O>;
  positionals: string[];
  usage: string;
  /** A usage error found by the script itself (a bad list item, two options that exclude each other): prints it with the usage and exits 64. */
  fail(message: string): never;
}

/** Parses process.argv (or argv): prints the usage and exits 0 on --help, exits 64 on a usage error. */
export function parseCli<const O extends OptionsSpec>(spec: CliSpec<O>, argv: readonly string[] = process.argv.slice(2)): Cli<O> {
  const r = parseCliArgs(spec, argv);
  const usage = usageText(spec);
  const fail = (message: string): never => {
    process.stderr.write(`error: ${message}\n\n${usage}\n`);
    process.exit(EX_USAGE);
  };
  if (r.kind === "help") {
    process.stdout.write(`${r.text}\n`);
    process.exit(0);
  }
  if (r.kind === "error") return fail(r.message);
  return { values: r.values, positionals: r.positionals, usage, fail };
}
