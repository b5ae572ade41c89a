// JSON-lines logger. Lines are buffered and written once per event-loop turn (or at 64 KiB) so an
// access-log line costs a string concat on the hot path, not a write(2).
import type { LogLevel } from "./config.ts";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  readonly level: LogLevel;
  enabled(level: LogLevel): boolean;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Appends a pre-built JSON line (hot paths build it by hand); only call when enabled(level). */
  line(json: string): void;
  /** The current time as ISO 8601, cached per millisecond. */
  isoNow(): string;
  /** Lifecycle lines (listening, stopping, stopped): written at every level. */
  notice(msg: string, fields?: Record<string, unknown>): void;
  /**
   * A line that may repeat in a storm (every write failing on a full disk, a bug hit by every
   * request): the first of its `kind` per second is written, the rest are counted and reported as
   * `suppressed` on the next one written.
   */
  limited(kind: string, level: "warn" | "error", msg: string, fields?: Record<string, unknown>): void;
  /** Writes anything still buffered. */
  flush(): void;
}

/** How long info/debug lines may wait in the buffer. */
export const FLUSH_MS = 25;
/** limited(): one line per kind per this many ms. */
export const LIMITED_MS = 1000;

export function createLogger(level: LogLevel, write: (chunk: string) => void, now: () => number = Date.now): Logger {
  const min = RANK[level];
  let buf = "";
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (buf) {
      const out = buf;
      buf = "";
      write(out);
    }
  };
  let lastMs = -1;
  let lastIso = "";
  const isoNow = () => {
    const ms = now();
    if (ms !== lastMs) {
      lastMs = ms;
      lastIso = new Date(ms).toISOString();
    }
    return lastIso;
  };
  // Access lines are written in batches every FLUSH_MS (one write per batch: a write per event-loop
  // turn was ~12% of a small route at 50k req/s); warnings, errors and lifecycle lines at once.
  const append = (line: string) => {
    buf += line + "\n";
    if (buf.length > 65536) flush();
    else if (!scheduled) {
      scheduled = true;
      setTimeout(flush, FLUSH_MS);
    }
  };
  const emit = (lvl: LogLevel | "notice", msg: string, fields?: Record<string, unknown>) => {
    if (lvl !== "notice" && RANK[lvl] < min) return;
    let line: string;
    try {
      line = JSON.stringify({ time: isoNow(), level: lvl, msg, ...fields });
    } catch {
      line = JSON.stringify({ time: isoNow(), level: lvl, msg });
    }
    append(line);
    if (lvl !== "debug" && lvl !== "info") flush();
  };
  // Kinds are few (a closed set of call sites, error messages cut short): bounded anyway.
  const storms = new Map<string, { at: number; suppressed: number }>();
  const limited: Logger["limited"] = (kind, lvl, msg, fields) => {
    if (RANK[lvl] < min) return;
    const t = now();
    const s = storms.get(kind);
    if (s && t - s.at < LIMITED_MS) {
      s.suppressed++;
      return;
    }
    if (!s && storms.size >= 1024) storms.clear();
    emit(lvl, msg, s?.suppressed ? { ...fields, suppressed: s.suppressed } : fields);
    storms.set(kind, { at: t, suppressed: 0 });
  };
  return {
    level,
    limited,
    enabled: (l) => RANK[l] >= min,
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    notice: (m, f) => emit("notice", m, f),
    line: append,
    isoNow,
    flush,
  };
}

const drop = () => {};

/** A logger that drops everything (tests, benchmarks of the bare path); it holds no state. */
export const silentLogger: Logger = {
  level: "error",
  enabled: () => false,
  debug: drop,
  info: drop,
  warn: drop,
  error: drop,
  notice: drop,
  limited: drop,
  line: drop,
  isoNow: () => new Date().toISOString(),
  flush: drop,
};
