// Who a client is, by address (ipaddr.js does the parsing): CIDR ranges (PEXD_TRUSTED_PROXIES),
// the client behind trusted proxies (X-Forwarded-For), and the key a limit counts by — an IPv6
// client by its /64, the smallest block a home line or a VPS gets, so rotating addresses buys nothing.
import ipaddr from "ipaddr.js";

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

export interface Cidr {
  readonly range: [IpAddress, number];
  readonly text: string;
}

/** An IP address (IPv4-mapped IPv6 as IPv4, brackets and zone ids dropped), or null. */
export function parseIp(raw: string): IpAddress | null {
  const s = raw
    .trim()
    .replace(/^\[(.*)\]$/, "$1")
    .replace(/%.*$/, "");
  // Dotted quads only: ipaddr.js also takes the legacy forms (1.2.3, 0x7f.1, 2130706433).
  if (s.includes(":") ? !ipaddr.IPv6.isValid(s) : !ipaddr.IPv4.isValidFourPartDecimal(s)) return null;
  return ipaddr.process(s);
}

/** `10.0.0.0/8`, `::1`, `fd00::/8`; a bare address is a single host. Throws a RangeError if invalid. */
export function parseCidr(raw: string): Cidr {
  const text = raw.trim();
  try {
    if (text.includes("/")) {
      const [addr, bits] = ipaddr.parseCIDR(text);
      const v4 = addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress();
      return { range: v4 ? [(addr as ipaddr.IPv6).toIPv4Address(), bits - 96] : [addr, bits], text };
    }
    const addr = parseIp(text);
    if (addr) return { range: [addr, addr.kind() === "ipv4" ? 32 : 128], text };
  } catch {
    /* reported below */
  }
  throw new RangeError(`"${text}" is not an IP address or CIDR range`);
}

export function inCidr(addr: IpAddress, c: Cidr): boolean {
  const [net, bits] = c.range;
  return addr.kind() === net.kind() && addr.match(net, bits);
}

/** The key a limit counts a client by: an IPv4 address, or the /64 of an IPv6 address. */
export function limitKey(addr: IpAddress): string {
  if (addr.kind() === "ipv4") return addr.toString();
  const parts = (addr as ipaddr.IPv6).parts;
  return `${new ipaddr.IPv6([...parts.slice(0, 4), 0, 0, 0, 0]).toString()}/64`;
}

/**
 * The client's address: the peer's, or — when the peer is a trusted proxy — the right-most address
 * of X-Forwarded-For that is not itself a trusted proxy (the left part of that header is whatever the
 * client claimed). Null when the runtime cannot tell the peer.
 */
export function clientAddress(peer: string | null, forwardedFor: string | null, trusted: readonly Cidr[]): IpAddress | null {
  const p = peer === null ? null : parseIp(peer);
  if (!p || trusted.length === 0 || forwardedFor === null || !trusted.some((c) => inCidr(p, c))) return p;
  const hops = forwardedFor.split(",");
  for (let i = hops.length - 1; i >= 0; i--) {
    const a = parseIp(hops[i]!);
    if (!a) return p; // a garbled header: count the proxy itself rather than a made-up client
    if (!trusted.some((c) => inCidr(a, c))) return a;
  }
  return p;
}
