// The client's address, as Express's `trust proxy` works it out: the socket's
// peer, unless that peer is a trusted proxy; then X-Forwarded-For from the
// right, skipping trusted hops.
import { describe, expect, it } from "vitest";
import { parseEnv } from "~/server/env";
import { clientAddress, PEER_HEADER, requestInfoFrom } from "~/server/request-info";

const trust = (v: string) => parseEnv({ TRUSTED_PROXIES: v }).TRUSTED_PROXIES;
const nobody = trust("");

describe("clientAddress", () => {
  it("ignores X-Forwarded-For when nobody is trusted", () => {
    expect(clientAddress("203.0.113.9", "6.6.6.6", nobody)).toBe("203.0.113.9");
    expect(clientAddress("127.0.0.1", "6.6.6.6, 10.0.0.1", nobody)).toBe("127.0.0.1");
  });

  it("ignores it from a peer outside the trusted ranges", () => {
    expect(clientAddress("203.0.113.9", "6.6.6.6", trust("10.0.0.0/8"))).toBe("203.0.113.9");
  });

  it("takes the rightmost untrusted hop behind trusted proxies", () => {
    const t = trust("10.0.0.0/8, loopback");
    // Client 198.51.100.4 → proxy 10.0.0.2 → proxy 10.0.0.1 → app; a forged leftmost entry is skipped.
    expect(clientAddress("10.0.0.1", "6.6.6.6, 198.51.100.4, 10.0.0.2", t)).toBe("198.51.100.4");
    expect(clientAddress("::ffff:127.0.0.1", "198.51.100.4", t)).toBe("198.51.100.4");
    // Every hop trusted: the leftmost is the client.
    expect(clientAddress("10.0.0.1", "10.9.9.9, 10.0.0.2", t)).toBe("10.9.9.9");
  });

  it("counts hops from the socket", () => {
    expect(clientAddress("10.0.0.1", "6.6.6.6, 198.51.100.4", trust("1"))).toBe("198.51.100.4");
    expect(clientAddress("10.0.0.1", "6.6.6.6, 198.51.100.4, 10.0.0.2", trust("2"))).toBe("198.51.100.4");
    expect(clientAddress("10.0.0.1", "198.51.100.4", trust("5"))).toBe("198.51.100.4");
    expect(clientAddress("10.0.0.1", null, trust("1"))).toBe("10.0.0.1");
  });

  it("stops at an entry that is not an address, and strips ports and brackets", () => {
    const t = trust("loopback");
    expect(clientAddress("127.0.0.1", "198.51.100.4, <script>", t)).toBe("127.0.0.1");
    expect(clientAddress("127.0.0.1", "198.51.100.4:5123", t)).toBe("198.51.100.4");
    expect(clientAddress("::1", "[2001:db8::7]:443", t)).toBe("2001:db8::7");
  });

  it("is unknown without a peer", () => {
    expect(clientAddress(null, "6.6.6.6", trust("1"))).toBeNull();
    expect(clientAddress("", "6.6.6.6", nobody)).toBeNull();
  });
});

describe("requestInfoFrom", () => {
  it("reads the stamped peer, never the client's X-Real-IP or X-Forwarded-For on their own", () => {
    const h = new Headers({ "x-forwarded-for": "6.6.6.6", "x-real-ip": "7.7.7.7", "user-agent": "curl/8" });
    expect(requestInfoFrom(h, nobody)).toEqual({ sourceIp: null, userAgent: "curl/8" });
    h.set(PEER_HEADER, "192.0.2.10");
    expect(requestInfoFrom(h, nobody)).toEqual({ sourceIp: "192.0.2.10", userAgent: "curl/8" });
    expect(requestInfoFrom(h, trust("192.0.2.0/24")).sourceIp).toBe("6.6.6.6");
  });

  it("uses TRUSTED_PROXIES from the settings by default (empty here: nobody)", () => {
    const h = new Headers({ [PEER_HEADER]: "127.0.0.1", "x-forwarded-for": "6.6.6.6" });
    expect(requestInfoFrom(h).sourceIp).toBe("127.0.0.1");
  });
});
