// Who is on the other end of a request: the client's address and user agent,
// for events, correlation and the audit log (through tRPC's context, Auth.js
// and the route handlers). This is the only place a source IP is worked out.
//
// Next 16 gives route handlers no peer address (NextRequest lost `ip` in 15),
// and `next start` only fills X-Forwarded-For with the socket's address when a
// request arrives without one, so a forged header would pass for the client.
// So the server process subscribes to Node's `http.server.request.start`
// diagnostics channel (installPeerAddressHeader, called first thing at start)
// and writes the socket's address into PEER_HEADER on every request before
// Next sees it, overwriting whatever the client sent under that name.
// X-Forwarded-For is then honoured only from the peers TRUSTED_PROXIES names,
// walked from the right as Express's `trust proxy` does.
import { subscribe } from "node:diagnostics_channel";
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { env, type TrustedProxies } from "./env";
import { blockListOf, inBlockList, normalizeIp } from "./ip-ranges";

export interface RequestInfo {
  sourceIp: string | null;
  userAgent: string | null;
}

/** For work no request asked for (background jobs, tests). */
export const NO_REQUEST: RequestInfo = { sourceIp: null, userAgent: null };

/** The socket's peer address, as the server process stamped it on the request. */
export const PEER_HEADER = "x-twarga-peer-address";

const globalForPeer = globalThis as unknown as { twargaPeerHeader?: boolean };

/**
 * Stamps every HTTP request this process serves with its socket's peer address
 * (PEER_HEADER). Once per process; requests that arrived before it ran carry no
 * peer, and their source IP is recorded as unknown rather than guessed.
 */
export function installPeerAddressHeader(): void {
  if (globalForPeer.twargaPeerHeader) return;
  globalForPeer.twargaPeerHeader = true;
  subscribe("http.server.request.start", (message) => {
    const { request, socket } = message as { request: IncomingMessage; socket: Socket };
    request.headers[PEER_HEADER] = socket.remoteAddress ?? "";
  });
}

const trustCache = new WeakMap<TrustedProxies, (ip: string, hop: number) => boolean>();
function trustOf(trust: TrustedProxies): (ip: string, hop: number) => boolean {
  let fn = trustCache.get(trust);
  if (!fn) {
    if ("hops" in trust) {
      const hops = trust.hops;
      fn = (_ip, hop) => hop < hops;
    } else {
      const block = blockListOf(trust.ranges);
      fn = (ip) => inBlockList(block, ip);
    }
    trustCache.set(trust, fn);
  }
  return fn;
}

/**
 * The client's address: the peer itself, unless it is a trusted proxy; then the
 * X-Forwarded-For entries from the right, skipping trusted hops, up to the first
 * untrusted one (or the leftmost). An entry that is not an address ends the walk
 * at the last hop that was one. Null when the peer is unknown.
 */
export function clientAddress(peer: string | null | undefined, forwardedFor: string | null | undefined, trust: TrustedProxies): string | null {
  let client = normalizeIp(peer);
  if (!client) return null;
  const isTrusted = trustOf(trust);
  const chain = (forwardedFor ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .reverse();
  for (let hop = 0; hop < chain.length && isTrusted(client, hop); hop++) {
    const next = normalizeIp(chain[hop]);
    if (!next) break;
    client = next;
  }
  return client;
}

export function requestInfoFrom(headers: Headers, trust: TrustedProxies = env().TRUSTED_PROXIES): RequestInfo {
  return { sourceIp: clientAddress(headers.get(PEER_HEADER), headers.get("x-forwarded-for"), trust), userAgent: headers.get("user-agent") };
}
