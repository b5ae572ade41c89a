import { describe, expect, test } from "bun:test";
import { BlockTemplate, escapeHtml, parseBlock, readBlockMeta } from "./block-doc.ts";
import { BLOCK_TEMPLATE } from "./block.template.ts";

const template = new BlockTemplate(BLOCK_TEMPLATE);
const raw = {
  number: "0x1b4",
  hash: "0xdc0818cf78f21a8e70579cb46a43643f78291264dda342ae31049421c82d21ae",
  parentHash: "0xe99e022112df268087ea7eafaf4790497fd21dbeeb6bd7a1721df161a6657a54",
  timestamp: "0x55ba467c",
  transactions: ["0x01", "0x02"],
  gasUsed: "0x9f759",
  miner: "0x4e65fda2159562a496f9f3522f89122a3088497a",
};

describe("block document", () => {
  test("carries every field and the two meta tags in <head>", () => {
    const html = template.render(parseBlock(raw));
    const head = html.slice(0, html.indexOf("</head>"));
    expect(head).toContain('<meta name="block-number" content="436">');
    expect(head).toContain(`<meta name="block-hash" content="${raw.hash}">`);
    for (const v of [raw.parentHash, "1438271100", "2015-07-30T15:45:00.000Z", "<dd>2</dd>", "<dd>653145</dd>", raw.miner])
      expect(html).toContain(v);
    expect(readBlockMeta(new TextEncoder().encode(html))).toEqual({ number: 436, hash: raw.hash });
  });
  test("every value is HTML-escaped", () => {
    const html = template.render(parseBlock({ ...raw, miner: '<script>alert("x")</script>&', hash: '0x"><b>' }));
    expect(html).not.toContain("<script>");
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;");
    expect(html).toContain('content="0x&quot;&gt;&lt;b&gt;"');
    expect(escapeHtml(`'&`)).toBe("&#39;&amp;");
  });
  test("an upstream block with a missing field is refused", () => {
    expect(() => parseBlock({ ...raw, number: undefined })).toThrow(TypeError);
    expect(() => parseBlock(null)).toThrow(TypeError);
  });
  test("a template without the meta fields or with an unknown field is refused", () => {
    expect(() => new BlockTemplate("<p>{{hash}}</p>")).toThrow(/number/);
    expect(() => new BlockTemplate("{{number}}{{hash}}{{nope}}")).toThrow(/nope/);
  });
  test("readBlockMeta: absent or invalid number tag → null; the hash is optional", () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(readBlockMeta(enc("<html><head><title>x</title></head></html>"))).toBeNull();
    expect(readBlockMeta(enc('<meta name="block-number" content="0x10">'))).toBeNull();
    expect(readBlockMeta(enc('<meta name="block-number" content="99999999999999999">'))).toBeNull();
    expect(readBlockMeta(enc("<meta name='block-number' content='7'>"))).toEqual({ number: 7, hash: null });
  });
  test("readBlockMeta: tags past the first 512 bytes, across that cut, or after a split UTF-8 character are found up to 4 KiB", () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    const tags = '<meta name="block-number" content="42"><meta name="block-hash" content="0xab">';
    for (const pad of [0, 450, 480, 500, 511, 600, 3900]) {
      const doc = `${"x".repeat(pad)}${tags}`;
      const want = pad + tags.length <= 4096 ? { number: 42, hash: "0xab" } : null;
      expect(readBlockMeta(enc(doc))).toEqual(want);
      // A 3-byte character cut by the 512-byte prefix.
      expect(readBlockMeta(enc(`${"x".repeat(Math.max(0, pad - 3))}€${tags}`))).toEqual(want);
    }
    // The number tag early, the hash tag only past the first 512 bytes.
    const split = `<meta name="block-number" content="9">${"y".repeat(700)}<meta name="block-hash" content="0xcd">`;
    expect(readBlockMeta(enc(split))).toEqual({ number: 9, hash: "0xcd" });
    expect(readBlockMeta(enc(`${"z".repeat(4100)}${tags}`))).toBeNull();
  });
});
