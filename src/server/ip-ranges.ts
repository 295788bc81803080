// IP addresses and ranges: the one place that parses them, for the trusted
// proxies (request-info.ts) and the addresses a webhook may not reach
// (metrics/alerts/webhook.ts). Matching is node:net's BlockList.
import { BlockList, isIP } from "node:net";

export type IpFamily = "ipv4" | "ipv6";

export interface IpRange {
  address: string;
  prefix: number;
  family: IpFamily;
}

/**
 * An address as the app records it, or null when `raw` is not one: surrounding
 * spaces, brackets, a port ("1.2.3.4:80", "[::1]:80") and an IPv6 zone are
 * dropped, and an IPv4-mapped IPv6 address ("::ffff:10.0.0.1", what a
 * dual-stack socket reports) becomes the IPv4 address.
 */
export function normalizeIp(raw: string | null | undefined): string | null {
  let s = (raw ?? "").trim();
  if (!s) return null;
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(s);
  if (bracketed) s = bracketed[1]!;
  else if (/^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/.test(s)) s = s.slice(0, s.lastIndexOf(":"));
  s = s.replace(/%[\w.-]+$/, "");
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(s);
  if (mapped) s = mapped[1]!;
  const family = isIP(s);
  if (family === 0) return null;
  return family === 6 ? s.toLowerCase() : s;
}

export function familyOf(ip: string): IpFamily {
  return isIP(ip) === 6 ? "ipv6" : "ipv4";
}

/** "10.0.0.1", "10.0.0.0/8", "::1", "fd00::/8" as a range; null when it is none of these. */
export function parseRange(text: string): IpRange | null {
  const [addr, bits, extra] = text.trim().split("/");
  if (extra !== undefined || !addr) return null;
  const address = normalizeIp(addr);
  if (
    !address ||
    address !==
      addr
        .trim()
        .toLowerCase()
        .replace(/^::ffff:/, "")
  )
    return null;
  const family = familyOf(address);
  const max = family === "ipv4" ? 32 : 128;
  if (bits === undefined) return { address, prefix: max, family };
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return null;
  return { address, prefix: Number(bits), family };
}

const ranges = (...texts: string[]) => texts.map((t) => parseRange(t)!);

/** Express's names for common ranges (its `trust proxy` accepts the same). */
export const NAMED_RANGES: Record<string, IpRange[]> = {
  loopback: ranges("127.0.0.0/8", "::1/128"),
  linklocal: ranges("169.254.0.0/16", "fe80::/10"),
  uniquelocal: ranges("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"),
};

export function blockListOf(list: readonly IpRange[]): BlockList {
  const block = new BlockList();
  for (const r of list) block.addSubnet(r.address, r.prefix, r.family);
  return block;
}

/** Whether a normalized address lies in the list. */
export function inBlockList(block: BlockList, ip: string): boolean {
  return block.check(ip, familyOf(ip));
}
