// Load generator of the relay ingest benchmark: N concurrent persistent TCP connections, each sending
// F netstring frames of a 4 KiB block document as fast as backpressure allows.
// echo mode: done when every byte came back; relay mode: done when every frame was acknowledged (one
// netstring answer per frame, written by the server once the outcome is committed; docs/security.md).
// Prints {"ms":…,"frames":…} (relay mode adds the answers by kind; any answer but stored/duplicate,
// or a connection closed before every answer, fails the run).
// Started by bench/relay-load.ts with positional arguments (that contract stays):
// Usage: bun bench/relay-senders.ts [HOST [PORT [SENDERS [FRAMES [MODE [UNIQUE [BASE]]]]]]]
import { parseCli } from "../scripts/lib/cli.ts";

const ARGS = "HOST PORT SENDERS FRAMES MODE UNIQUE BASE";
const { positionals, fail } = parseCli({
  usage: `bun bench/relay-senders.ts [${ARGS.split(" ").join(" [")}${"]".repeat(7)}`,
  about: 'The load generator of bench/relay-load.ts\'s ingest figure (started by it; prints {"ms":…,"frames":…}).',
  options: {},
  positionals: { name: ARGS, help: "in this order, each optional (below)", max: 7 },
  notes: [
    "  HOST     server address (default 127.0.0.1)",
    "  PORT     server port",
    "  SENDERS  concurrent connections (default 50)",
    "  FRAMES   4 KiB frames per connection (default 1000)",
    "  MODE     relay: done when every frame was answered; echo: when every byte came back (default relay)",
    "  UNIQUE   1: every frame a new block; 0: every sender sends the same blocks (default 1)",
    "  BASE     first block number (default 1000000000)",
  ].join("\n"),
});
const [host = "127.0.0.1", portArg = "0", sendersArg = "50", framesArg = "1000", mode = "relay", uniqueArg = "1", baseArg = "1000000000"] =
  positionals;
const int = (name: string, s: string, max = Number.MAX_SAFE_INTEGER) => {
  const n = Number(s);
  return /^\d+$/.test(s) && n <= max ? n : fail(`${name}: not a whole number in 0..${max}: ${JSON.stringify(s)}`);
};
const port = int("PORT", portArg, 65535);
const senders = int("SENDERS", sendersArg);
const perSender = int("FRAMES", framesArg);
if (mode !== "relay" && mode !== "echo") fail(`MODE: echo or relay, not ${JSON.stringify(mode)}`);
if (uniqueArg !== "0" && uniqueArg !== "1") fail(`UNIQUE: 0 or 1, not ${JSON.stringify(uniqueArg)}`);
const unique = uniqueArg === "1";
const base = int("BASE", baseArg);
const enc = new TextEncoder();

function frame(n: number): Uint8Array {
  const head = `<!doctype html><html><head><meta charset="utf-8"><meta name="block-number" content="${n}"><meta name="block-hash" content="0x${n.toString(16).padStart(64, "0")}"></head><body><p>`;
  const tail = "</p></body></html>";
  const body = enc.encode(head + "x".repeat(4096 - head.length - tail.length) + tail);
  return enc.encode(`${body.length}:${new TextDecoder().decode(body)},`);
}

// Built before the clock starts. unique: every frame is a new block; copies: every sender sends the
// same blocks (one stored, the others duplicates), as several watchers feeding one server do.
const shared = unique ? null : Array.from({ length: perSender }, (_, k) => frame(base + k));
const prepared = Array.from(
  { length: senders },
  (_, i) => shared ?? Array.from({ length: perSender }, (_, k) => frame(base + i * perSender + k)),
);

// Answers by kind, over every connection (relay mode).
const answers: Record<string, number> = {};

/** Counts the netstring answers of one connection as they stream in; returns how many so far. */
function answerReader(): (d: Uint8Array) => number {
  let n = 0;
  let len = -1;
  let word = "";
  let left = 0;
  return (d) => {
    for (const c of d) {
      if (left > 0) {
        word += String.fromCharCode(c);
        left--;
      } else if (len >= 0 && c === 0x3a) {
        left = len + 1; // payload and the comma
        word = "";
        len = -1;
        continue;
      } else if (c >= 0x30 && c <= 0x39) {
        len = (len < 0 ? 0 : len * 10) + (c - 0x30);
        continue;
      } else throw new Error(`malformed answer byte ${c}`);
      if (left === 0) {
        const kind = word.slice(0, -1);
        answers[kind] = (answers[kind] ?? 0) + 1;
        n++;
      }
    }
    return n;
  };
}

async function sender(i: number): Promise<number> {
  const frames = prepared[i]!;
  const total = frames.reduce((a, f) => a + f.length, 0);
  let echoed = 0;
  let answered = 0;
  const read = answerReader();
  return new Promise<number>((resolve, reject) => {
    let idx = 0;
    let off = 0;
    const pump = (s: { write(b: Uint8Array): number; end(): void }) => {
      while (idx < frames.length) {
        const f = frames[idx]!;
        const n = s.write(off ? f.subarray(off) : f);
        if (n <= 0) return;
        off += n;
        if (off === f.length) {
          idx++;
          off = 0;
        } else return;
      }
    };
    Bun.connect({
      hostname: host,
      port,
      socket: {
        open: pump,
        drain: pump,
        data(s, d) {
          echoed += d.length;
          if (mode === "echo" && echoed >= total) s.end();
          if (mode === "relay" && (answered = read(d)) >= frames.length) s.end();
        },
        close() {
          if (mode === "echo" && echoed < total) reject(new Error(`echo short: ${echoed}/${total}`));
          else if (mode === "relay" && answered < frames.length) reject(new Error(`answers short: ${answered}/${frames.length}`));
          else resolve(perSender);
        },
        error(_s, e) {
          reject(e);
        },
      },
    }).catch(reject);
  });
}

const t0 = performance.now();
const counts = await Promise.all(Array.from({ length: senders }, (_, i) => sender(i)));
const ms = performance.now() - t0;
const bad = Object.keys(answers).filter((k) => k !== "stored" && k !== "duplicate");
if (bad.length) throw new Error(`answers other than stored/duplicate: ${JSON.stringify(answers)}`);
console.log(JSON.stringify({ ms, frames: counts.reduce((a, b) => a + b, 0), ...(mode === "relay" ? { answers } : {}) }));
