// The benchmark report: a Markdown page with the tables of one `make bench` run and an SVG plot of
// throughput and latency per route, drawn here as plain SVG text (no chart library, no network).
import { markdownTable } from "./lib.ts";

export interface RouteResult {
  route: string;
  rps: number;
  p50ms: number;
  p99ms: number;
  /** rps / the baseline's rps in the same run. */
  ratio: number;
  rssMiB: number;
  /** Server CPU time per request (µs), when measured. */
  cpuUsPerReq?: number;
  /** Socket errors + non-2xx answers seen by wrk (should be 0). */
  errors: number;
}

export interface Section {
  title: string;
  /** Markdown body (a table, a preformatted block). */
  body: string;
}

export interface Report {
  date: Date;
  machine: string;
  method: string;
  routes: RouteResult[];
  /** e.g. metrics middleware on/off. */
  findings: string[];
  sections: Section[];
  /** File name of the plot, relative to the report. */
  plot: string;
}

export function routeTable(routes: RouteResult[]): string {
  return markdownTable(
    routes.map((r) => ({
      route: r.route,
      "req/s": Math.round(r.rps),
      "p50 ms": r.p50ms,
      "p99 ms": r.p99ms,
      "× baseline": Math.round(r.ratio * 100) / 100,
      "RSS MiB": Math.round(r.rssMiB * 10) / 10,
      "CPU µs/req": r.cpuUsPerReq === undefined || Number.isNaN(r.cpuUsPerReq) ? "" : Math.round(r.cpuUsPerReq * 10) / 10,
      errors: r.errors,
    })),
  );
}

export function renderMarkdown(r: Report): string {
  return [
    `# pexd benchmark, ${r.date.toISOString().slice(0, 16).replace("T", " ")} UTC`,
    "",
    `Machine: ${r.machine}`,
    "",
    `Method: ${r.method}`,
    "",
    ...(r.routes.length ? [`![throughput and latency per route](${r.plot})`, "", "## HTTP routes", "", routeTable(r.routes), ""] : []),
    ...(r.findings.length ? ["## Findings", "", ...r.findings.map((f) => `- ${f}`), ""] : []),
    ...r.sections.flatMap((s) => [`## ${s.title}`, "", s.body.trim(), ""]),
  ].join("\n");
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** A "nice" axis maximum and tick step for values up to max. */
function niceScale(max: number, ticks = 5): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.2 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  return { top: Math.ceil(max / step) * step, step };
}

const fmt = (v: number) =>
  v >= 1000 ? `${Math.round(v / 100) / 10}k` : v >= 10 ? String(Math.round(v)) : String(Math.round(v * 100) / 100);

/**
 * Two horizontal bar charts side by side, one row per route: throughput (req/s, with the
 * baseline's as a dashed line) and latency (p50 solid, p99 light, on one linear axis).
 */
export function renderSvg(routes: RouteResult[], title: string): string {
  const rowH = 26;
  const labelW = 300;
  const chartW = 340;
  const gap = 60;
  const top = 58;
  const height = top + routes.length * rowH + 50;
  const width = labelW + chartW * 2 + gap + 30;
  const base = routes.find((r) => r.ratio === 1 && /baseline/i.test(r.route));
  const rpsScale = niceScale(Math.max(...routes.map((r) => r.rps)));
  const latScale = niceScale(Math.max(...routes.map((r) => (Number.isFinite(r.p99ms) ? r.p99ms : 0))));
  const x1 = labelW;
  const x2 = labelW + chartW + gap;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    "<title>pexd benchmark: throughput and latency per route</title>",
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="600">${esc(title)}</text>`,
    `<text x="${x1}" y="44" font-weight="600">Throughput (req/s, higher is better)</text>`,
    `<text x="${x2}" y="44" font-weight="600">Latency (ms, lower is better): <tspan fill="#1f77b4">p50</tspan> / <tspan fill="#9ecae1">p99</tspan></text>`,
  );
  const axis = (x0: number, scale: { top: number; step: number }) => {
    const y0 = top - 4;
    const y1 = top + routes.length * rowH;
    for (let v = 0; v <= scale.top + 1e-9; v += scale.step) {
      const x = x0 + (v / scale.top) * chartW;
      out.push(`<line x1="${x.toFixed(1)}" y1="${y0}" x2="${x.toFixed(1)}" y2="${y1}" stroke="#e3e6ea"/>`);
      out.push(`<text x="${x.toFixed(1)}" y="${y1 + 16}" text-anchor="middle" fill="#555">${fmt(v)}</text>`);
    }
  };
  axis(x1, rpsScale);
  axis(x2, latScale);
  routes.forEach((r, i) => {
    const y = top + i * rowH;
    const w = (v: number, s: { top: number }) => (Number.isFinite(v) ? Math.max(0, (v / s.top) * chartW) : 0);
    out.push(`<text x="${labelW - 8}" y="${y + 16}" text-anchor="end">${esc(r.route)}</text>`);
    out.push(
      `<rect x="${x1}" y="${y + 4}" width="${w(r.rps, rpsScale).toFixed(1)}" height="${rowH - 8}" fill="${/baseline/i.test(r.route) ? "#888" : "#2ca02c"}"/>`,
    );
    out.push(
      `<text x="${(x1 + w(r.rps, rpsScale) + 4).toFixed(1)}" y="${y + 16}" fill="#333">${fmt(r.rps)} (${r.ratio.toFixed(2)}×)</text>`,
    );
    out.push(`<rect x="${x2}" y="${y + 4}" width="${w(r.p99ms, latScale).toFixed(1)}" height="${rowH - 8}" fill="#9ecae1"/>`);
    out.push(`<rect x="${x2}" y="${y + 8}" width="${w(r.p50ms, latScale).toFixed(1)}" height="${rowH - 16}" fill="#1f77b4"/>`);
    out.push(`<text x="${(x2 + w(r.p99ms, latScale) + 4).toFixed(1)}" y="${y + 16}" fill="#333">${fmt(r.p50ms)} / ${fmt(r.p99ms)}</text>`);
  });
  if (base) {
    const x = x1 + (base.rps / rpsScale.top) * chartW;
    out.push(
      `<line x1="${x.toFixed(1)}" y1="${top - 4}" x2="${x.toFixed(1)}" y2="${top + routes.length * rowH}" stroke="#555" stroke-dasharray="4 3"/>`,
    );
  }
  out.push("</svg>\n");
  return out.join("\n");
}
