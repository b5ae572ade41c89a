// mitata: the relay's hot functions — netstring encode/decode of 4 KiB documents (whole, split
// into TCP-sized chunks, coalesced), the meta-tag read the server does per frame, and rendering.
// Usage: bun run bench/relay.bench.ts [--json]
import { bench, do_not_optimize, group, run, summary } from "mitata";
import { parseCli } from "../scripts/lib/cli.ts";
import { BlockTemplate, parseBlock, readBlockMeta } from "../src/relay/block-doc.ts";
import { BLOCK_TEMPLATE } from "../src/relay/block.template.ts";
import { encodeNetstring, NetstringDecoder } from "../src/relay/netstring.ts";

const { values } = parseCli({
  usage: "bun run bench/relay.bench.ts [options]",
  about: "mitata: the relay's netstring codec on 4 KiB documents, the per-frame meta read, and rendering.",
  options: { json: { type: "boolean", help: "mitata's JSON output instead of its table" } },
});

const template = new BlockTemplate(BLOCK_TEMPLATE);
const block = parseBlock({
  number: "0x12a05f2",
  hash: `0x${"ab".repeat(32)}`,
  parentHash: `0x${"cd".repeat(32)}`,
  timestamp: "0x6553f100",
  transactions: Array.from({ length: 150 }, (_, i) => `0x${i.toString(16).padStart(64, "0")}`),
  gasUsed: "0x1c9c380",
  miner: "0x95222290dd7278aa3ddd389cc1e1d165cc4bafe5",
});
// A 4 KiB document (the size of the ingest benchmark): the rendered block padded in its body.
const rendered = template.render(block);
const doc4k = new TextEncoder().encode(rendered.replace("</body>", `<p>${"x".repeat(4096 - rendered.length - 7)}</p></body>`));
const frame4k = encodeNetstring(doc4k);
const chunks = Array.from({ length: Math.ceil(frame4k.length / 1460) }, (_, i) => frame4k.subarray(i * 1460, (i + 1) * 1460));
const coalesced = new Uint8Array(frame4k.length * 16);
for (let i = 0; i < 16; i++) coalesced.set(frame4k, i * frame4k.length);
const sink = (p: Uint8Array) => do_not_optimize(p);

group("netstring, 4 KiB payload", () => {
  summary(() => {
    bench("encode", () => do_not_optimize(encodeNetstring(doc4k)));
    bench("decode (one chunk)", () => new NetstringDecoder().push(frame4k, sink));
    bench("decode (split in 1460-byte segments)", () => {
      const d = new NetstringDecoder();
      for (const c of chunks) d.push(c, sink);
    });
    bench("decode (16 frames coalesced), per call", () => new NetstringDecoder().push(coalesced, sink));
  });
});

group("block document", () => {
  bench("readBlockMeta (server, per frame)", () => do_not_optimize(readBlockMeta(doc4k)));
  bench("render (watcher, per block)", () => do_not_optimize(template.render(block)));
});

await run({ format: values.json ? "json" : "mitata" });
