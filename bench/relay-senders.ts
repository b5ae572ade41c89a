// Load generator of the relay ingest benchmark: N concurrent persistent TCP connections, each sending
// F netstring frames of a 4 KiB block document as fast as backpressure allows, then half-closing.
// echo mode: done when every byte came back; relay mode: done when the server closed every connection
// (it has read and decoded everything). Prints {"ms":…,"frames":…}.
export {};
const [host = "127.0.0.1", portArg = "0", sendersArg = "50", framesArg = "1000", mode = "relay", uniqueArg = "1", baseArg = "1000000000"] =
  process.argv.slice(2);
const port = Number(portArg);
const senders = Number(sendersArg);
const perSender = Number(framesArg);
const unique = uniqueArg === "1";
const base = Number(baseArg);
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

async function sender(i: number): Promise<number> {
  const frames = prepared[i]!;
  const total = frames.reduce((a, f) => a + f.length, 0);
  let echoed = 0;
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
      if (mode === "relay") s.end();
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
        },
        close() {
          if (mode === "echo" && echoed < total) reject(new Error(`echo short: ${echoed}/${total}`));
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
console.log(JSON.stringify({ ms, frames: counts.reduce((a, b) => a + b, 0) }));
