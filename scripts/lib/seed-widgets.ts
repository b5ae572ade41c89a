// The reproducible widgets of `db:seed` (scripts/seed.ts into SQLite, scripts/seed-postgres.ts into
// PostgreSQL): the same seed draws the same widgets, slots and associations for both, and the same
// progress line on stderr.
import { mulberry32 } from "./mulberry32.ts";

export const PORTS = ["P", "R", "Q"] as const;
const WORDS = ["gear", "valve", "relay", "sprocket", "flange", "rotor", "coupler", "bracket", "spindle", "gasket"];

/** Serial numbers of a seed start with this (`s1-0000042`): a second load of one seed is refused by it. */
export const seedPrefix = (seed: number) => `s${seed}-`;

export interface SeedWidget {
  id: number;
  sn: string;
  name: string;
  /** Slot ports in ordinal order. */
  ports: string[];
  /** The partner id of each slot, or null. */
  partners: (number | null)[];
}

/**
 * The widget source of one load: pair(i) gives widgets i and i + 1 (ids firstId + i …) with their
 * associations. Widgets come in pairs so that an association's two slot rows are known before either
 * is written; each shared port type is associated with probability 1/2. Calls must run in order
 * (i = 0, 2, 4, …): the random stream is drawn as they go.
 */
export function seedWidgets(opts: { seed: number; total: number; firstId: number }) {
  const rand = mulberry32(opts.seed);
  const prefix = seedPrefix(opts.seed);
  const digits = String(Math.max(opts.total - 1, 0)).length;
  /** 0–3 slots with weights 10/20/30/40 %: 2.0 on average. */
  const slotCount = () => {
    const x = rand();
    return x < 0.1 ? 0 : x < 0.3 ? 1 : x < 0.6 ? 2 : 3;
  };
  const counts = { slots: 0, associations: 0 };
  const pair = (i: number): SeedWidget[] => {
    const ws: SeedWidget[] = [];
    for (let k = 0; k < Math.min(2, opts.total - i); k++) {
      const ports = Array.from({ length: slotCount() }, () => PORTS[Math.floor(rand() * 3)]!);
      ws.push({
        id: opts.firstId + i + k,
        sn: `${prefix}${String(i + k).padStart(digits, "0")}`,
        name: `${WORDS[Math.floor(rand() * WORDS.length)]} ${Math.floor(rand() * 1e6)}`,
        ports,
        partners: ports.map(() => null),
      });
      counts.slots += ports.length;
    }
    const [a, b] = ws;
    if (a && b) {
      for (const t of PORTS) {
        const ia = a.ports.findIndex((p, j) => p === t && a.partners[j] === null);
        const ib = b.ports.findIndex((p, j) => p === t && b.partners[j] === null);
        if (ia >= 0 && ib >= 0 && rand() < 0.5) {
          a.partners[ia] = b.id;
          b.partners[ib] = a.id;
          counts.associations++;
        }
      }
    }
    return ws;
  };
  return { pair, counts };
}

/** A progress line on stderr, redrawn at most every 250 ms (and at the end). */
export function progressBar(total: number, started: number): (done: number) => void {
  let lastDraw = 0;
  return (done) => {
    const now = performance.now();
    if (done < total && now - lastDraw < 250) return;
    lastDraw = now;
    const frac = total ? done / total : 1;
    const fill = Math.round(frac * 30);
    const secs = (now - started) / 1000;
    const eta = frac > 0 ? secs / frac - secs : 0;
    process.stderr.write(
      `\r[${"#".repeat(fill)}${" ".repeat(30 - fill)}] ${(frac * 100).toFixed(1).padStart(5)}% ${done.toLocaleString("en")}/${total.toLocaleString("en")} widgets  ${secs.toFixed(1)}s  eta ${eta.toFixed(0)}s `,
    );
  };
}
