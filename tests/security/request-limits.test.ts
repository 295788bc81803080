// Request bodies over the limit are refused with 413 by the tRPC route and the
// terminal's POST routes, called as Next calls them: whether Content-Length
// announces the size or a chunked body only grows past it. Bodies under the
// limit still reach the procedure (and its zod schema).
import { signedIn } from "../support/signed-in";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Actor } from "~/server/permissions";
import { TERMINAL_MAX_BODY_BYTES, TRPC_MAX_BODY_BYTES } from "~/server/request-limits";
import { createTestDb, type TestDb } from "../support/db";

let t: TestDb;
let alice: Actor;

beforeAll(async () => {
  t = await createTestDb();
  signedIn.db = t.db;
  const a = await t.db.user.create({ data: { email: "alice@example.com" } });
  alice = { id: a.id, email: a.email, role: "USER" };
  signedIn.actor = alice;
});
afterAll(async () => {
  (globalThis as { twargaTerminals?: { dispose(): void } }).twargaTerminals?.dispose();
  await t?.close();
});

/** A body of `bytes` bytes sent as a stream of 64 KB chunks, with no Content-Length: the server learns its size only by reading. */
function chunked(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(at, at + 65_536));
      at += 65_536;
    },
  });
}

function post(path: string, body: string, opts: { stream?: boolean } = {}): Request {
  const headers: Record<string, string> = { "content-type": "application/json", "sec-fetch-site": "same-origin" };
  if (!opts.stream) headers["content-length"] = String(Buffer.byteLength(body));
  return new Request(`http://localhost${path}`, {
    method: "POST",
    headers,
    body: opts.stream ? chunked(body) : body,
    duplex: "half",
  } as RequestInit);
}

/** An SSH key "label" of `bytes` characters, as the keys form would send it through tRPC. */
const sshKeyAdd = (labelBytes: number) => JSON.stringify({ json: { label: "x".repeat(labelBytes), publicKey: "ssh-ed25519 AAAA" } });

describe("tRPC", () => {
  const call = async (body: string, opts: { stream?: boolean } = {}) => {
    const { POST } = await import("~/app/api/trpc/[trpc]/route");
    return POST(post("/api/trpc/sshKeys.add", body, opts));
  };

  it.each([
    ["Content-Length says so", false],
    ["a chunked body grows past the limit", true],
  ])("refuses a body over the limit with 413 when %s", async (_label, stream) => {
    const res = await call(sshKeyAdd(TRPC_MAX_BODY_BYTES + 1), { stream });
    expect(res.status).toBe(413);
    // tRPC's own error shape (superjson-wrapped), as the client reads it.
    const body = (await res.json()) as { error: { json: { data: { code: string } } } };
    expect(body.error.json.data.code).toBe("PAYLOAD_TOO_LARGE");
    expect(await t.db.sshKey.count()).toBe(0);
  });

  it("lets a body under the limit through to the procedure, whose own schema answers", async () => {
    // 100 KB of label: within the body limit, over the label's zod maximum.
    for (const stream of [false, true]) {
      const res = await call(sshKeyAdd(100_000), { stream });
      expect(res.status).toBe(400);
      expect(JSON.stringify(await res.json())).toMatch(/label is far too long/);
    }
  });
});

describe("terminal POSTs", () => {
  const routes = {
    open: async (req: Request) => (await import("~/app/api/terminal/route")).POST(req),
    input: async (req: Request) => (await import("~/app/api/terminal/[id]/input/route")).POST(req, { params: Promise.resolve({ id: "some-id" }) }),
    resize: async (req: Request) => (await import("~/app/api/terminal/[id]/resize/route")).POST(req, { params: Promise.resolve({ id: "some-id" }) }),
    close: async (req: Request) => (await import("~/app/api/terminal/[id]/close/route")).POST(req, { params: Promise.resolve({ id: "some-id" }) }),
  };
  const huge = JSON.stringify({ seq: 1, data: "a".repeat(TERMINAL_MAX_BODY_BYTES) });

  it.each(Object.keys(routes))("%s refuses a body over the limit with 413, announced or streamed", async (name) => {
    const route = routes[name as keyof typeof routes];
    for (const stream of [false, true]) {
      const res = await route(post(`/api/terminal/some-id/${name}`, huge, { stream }));
      expect(res.status).toBe(413);
      expect(((await res.json()) as { error: string }).error).toMatch(/larger than/);
    }
  });

  it("still reads an ordinary body (a session id that does not exist is 404, not 413)", async () => {
    const res = await routes.input(post("/api/terminal/some-id/input", JSON.stringify({ seq: 1, data: "ls\r" })));
    expect(res.status).toBe(404);
  });

  it("takes the largest keystroke batch the terminal allows, even when JSON escapes every character", async () => {
    const { TERMINAL_MAX_INPUT_CHARS } = await import("~/server/access/terminal-sessions");
    const body = JSON.stringify({ seq: 1, data: "\u0001".repeat(TERMINAL_MAX_INPUT_CHARS) });
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(TERMINAL_MAX_BODY_BYTES);
    const res = await routes.input(post("/api/terminal/some-id/input", body));
    expect(res.status).toBe(404);
  });
});
