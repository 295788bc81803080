// The source IP an event records, over real sockets: the server process's
// peer stamp (installPeerAddressHeader, as start.ts installs it) and
// requestInfoFrom decide it, so a forged X-Forwarded-For from an untrusted
// address changes nothing, and through a trusted proxy the client's own
// address is recorded. Clients connect from distinct loopback addresses
// (127.0.0.5 and a proxy on 127.0.0.1), so each hop is told apart.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseEnv, type TrustedProxies } from "~/server/env";
import { recordEvent } from "~/server/events/record";
import { installPeerAddressHeader, PEER_HEADER, requestInfoFrom } from "~/server/request-info";
import { createTestDb, type TestDb } from "../../support/db";

let t: TestDb;
let trust: TrustedProxies;
let app: http.Server;
let proxy: http.Server;
let appPort: number;
let proxyPort: number;

const listen = (server: http.Server) => new Promise<number>((r) => server.listen(0, "127.0.0.1", () => r((server.address() as AddressInfo).port)));

function get(port: number, headers: Record<string, string>, localAddress: string) {
  return new Promise<void>((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: "/signin", headers, localAddress }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 204 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  installPeerAddressHeader();
  // The app: turns the request's headers into a Headers object (as Next does) and records an event.
  app = http.createServer((req, res) => {
    const headers = new Headers(Object.entries(req.headers).flatMap(([k, v]) => (typeof v === "string" ? [[k, v] as [string, string]] : [])));
    void recordEvent(t.db, { type: "auth", action: "signin", message: "test sign-in", ...requestInfoFrom(headers, trust) }).then(() =>
      res.writeHead(204).end(),
    );
  });
  // A reverse proxy as nginx's `proxy_add_x_forwarded_for` does it: append the peer it saw.
  proxy = http.createServer((req, res) => {
    const xff = [req.headers["x-forwarded-for"], req.socket.remoteAddress].filter(Boolean).join(", ");
    const headers = { ...req.headers, "x-forwarded-for": xff };
    const up = http.request({ host: "127.0.0.1", port: appPort, path: req.url, headers, localAddress: "127.0.0.1" }, (r) => {
      res.writeHead(r.statusCode ?? 502);
      r.pipe(res);
    });
    up.on("error", () => res.writeHead(502).end());
    up.end();
  });
  appPort = await listen(app);
  proxyPort = await listen(proxy);
});
afterAll(async () => {
  await new Promise((r) => app.close(r));
  await new Promise((r) => proxy.close(r));
});
beforeEach(async () => (t = await createTestDb()));
afterEach(() => t.close());

const recorded = async () => (await t.db.event.findMany({ orderBy: { createdAt: "asc" }, select: { sourceIp: true } })).map((e) => e.sourceIp);

describe("source IP of an event", () => {
  it("ignores forged forwarding headers from an untrusted address", async () => {
    trust = parseEnv({}).TRUSTED_PROXIES;
    await get(appPort, { "x-forwarded-for": "6.6.6.6", "x-real-ip": "7.7.7.7", [PEER_HEADER]: "8.8.8.8" }, "127.0.0.5");
    expect(await recorded()).toEqual(["127.0.0.5"]);
  });

  it("ignores them from an address outside TRUSTED_PROXIES", async () => {
    trust = parseEnv({ TRUSTED_PROXIES: "10.0.0.0/8, 127.0.0.1" }).TRUSTED_PROXIES;
    await get(appPort, { "x-forwarded-for": "6.6.6.6" }, "127.0.0.5");
    expect(await recorded()).toEqual(["127.0.0.5"]);
  });

  it("records the client's address through a trusted proxy, skipping what the client forged", async () => {
    trust = parseEnv({ TRUSTED_PROXIES: "127.0.0.1" }).TRUSTED_PROXIES;
    await get(proxyPort, { "x-forwarded-for": "6.6.6.6" }, "127.0.0.5");
    trust = parseEnv({ TRUSTED_PROXIES: "1" }).TRUSTED_PROXIES;
    await get(proxyPort, { "x-forwarded-for": "6.6.6.6" }, "127.0.0.5");
    expect(await recorded()).toEqual(["127.0.0.5", "127.0.0.5"]);
  });

  it("records the proxy itself when the proxy is not trusted", async () => {
    trust = parseEnv({}).TRUSTED_PROXIES;
    await get(proxyPort, { "x-forwarded-for": "6.6.6.6" }, "127.0.0.5");
    expect(await recorded()).toEqual(["127.0.0.1"]);
  });
});
