// One pexd per data directory: a running process records its PID in $PEXD_DATA_DIR/pexd.pid. A
// second pexd on the same directory, or `db:seed` writing into it, is refused while that process
// lives (a crashed one's stale file is taken over). Two writers on one SQLite file would not corrupt
// it, but each would serve from its own cached state (the counter's cursor, the widget count).
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";

export const PID_FILE = "pexd.pid";

/** The PID of a live pexd that holds `dataDir`, or null (none, or the file is stale). */
export function holderOf(dataDir: string): number | null {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dataDir, PID_FILE), "utf8").trim());
  } catch {
    return null;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return null;
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: alive but another user's; ESRCH: gone.
    if ((e as { code?: string }).code !== "EPERM") return null;
  }
  // A recycled PID that is not a pexd does not hold the directory.
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (!/pexd|cli\.ts/.test(cmdline)) return null;
  } catch {
    /* no /proc: trust the signal check */
  }
  return pid;
}

/**
 * Claims `dataDir` for this process: throws when a live pexd holds it; returns the release function
 * (removes the file if it is still ours). Failing to write the file (a read-only directory) is not
 * this check's business: the storage checks that follow say what is wrong.
 */
export function claimDataDir(dataDir: string): () => void {
  const holder = holderOf(dataDir);
  if (holder !== null) throw new DataDirHeld(dataDir, holder);
  const path = join(dataDir, PID_FILE);
  try {
    const fd = openSync(path, "w", 0o644);
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
  } catch {
    return () => {};
  }
  return () => {
    try {
      if (Number(readFileSync(path, "utf8").trim()) === process.pid) rmSync(path, { force: true });
    } catch {
      /* gone already */
    }
  };
}

export class DataDirHeld extends Error {
  override name = "DataDirHeld" as const;
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`PEXD_DATA_DIR=${dataDir} is in use by another pexd (pid ${pid}); stop it first, or give this one its own directory`);
  }
}
