// Prometheus text exposition (format 0.0.4) of MetricFamily lists: escaping, number rendering and
// merging of same-named families, so every module's families come out as one valid document.
import type { MetricFamily, Sample } from "./types.ts";

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const escapeHelp = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const escapeLabel = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

/** Go's ParseFloat spellings, which Prometheus and promtool accept. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function formatLabels(labels: Record<string, string> | undefined): string {
  if (!labels) return "";
  let out = "";
  for (const k in labels) {
    if (!LABEL_NAME.test(k) || k.startsWith("__")) continue; // never emit what a scraper rejects
    out += `${out ? "," : ""}${k}="${escapeLabel(labels[k]!)}"`;
  }
  return out ? `{${out}}` : "";
}

/**
 * Merges families that share a name (the first one's help and type win; a later family of another
 * type is dropped, as a duplicate name with two types would make the whole scrape invalid) and drops
 * families with invalid names. Order of first appearance is kept.
 */
export function mergeFamilies(families: Iterable<MetricFamily>): MetricFamily[] {
  const byName = new Map<string, MetricFamily>();
  for (const f of families) {
    if (!METRIC_NAME.test(f.name)) continue;
    const seen = byName.get(f.name);
    if (!seen) byName.set(f.name, { ...f, samples: [...f.samples] });
    else if (seen.type === f.type) seen.samples.push(...f.samples);
  }
  return [...byName.values()];
}

function sampleLine(name: string, s: Sample): string {
  return `${name}${s.suffix ?? ""}${formatLabels(s.labels)} ${formatValue(s.value)}\n`;
}

/** The text document for a scrape. Families without samples still get their HELP and TYPE lines. */
export function formatExposition(families: Iterable<MetricFamily>): string {
  let out = "";
  for (const f of mergeFamilies(families)) {
    out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.samples) out += sampleLine(f.name, s);
  }
  return out;
}
