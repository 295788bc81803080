// The terminal's HTTP routes (src/app/api/terminal/…) called as Next calls
// them, with the signed-in user swapped per request: the SSE stream and its
// headers, input and resize, Last-Event-ID after a dropped stream, and that a
// session id alone gets nobody anywhere.
import { signedIn } from "../../support/signed-in";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Actor } from "~/server/permissions";
import { ensureVmKey } from "~/server/access/vm-key";
import { createTestDb, type TestDb } from "../../support/db";
import { GUEST_PROMPT, startStandInGuest, terminalVmData, type StandInGuest } from "./terminal-guest";

let t: TestDb;
let guest: StandInGuest;
let alice: Actor, bob: Actor;
let vmId: string;

beforeAll(async () => {
  t = await createTestDb();
  signedIn.db = t.db;
  const a = await t.db.user.create({ data: { email: "alice@example.com" } });
  const b = await t.db.user.create({ data: { email: "bob@example.com" } });
  alice = { id: a.id, email: a.email, role: "USER" };
  bob = { id: b.id, email: b.email, role: "USER" };
  const box = await t.db.box.create({ data: { name: "local/debian12", displayName: "Debian 12", osFamily: "debian" } });
  const vm = await t.db.vm.create({ data: terminalVmData("web-1", a.id, box.id) });
  vmId = vm.id;
  const { publicKey } = await ensureVmKey(vm.id);
  const { readFileSync } = await import("node:fs");
  guest = await startStandInGuest({ authorizedKeys: [readFileSync(publicKey, "utf8")] });
  await t.db.vm.update({ where: { id: vm.id }, data: { sshPort: guest.port } });
});

afterAll(async () => {
  (globalThis as { twargaTerminals?: { dispose(): void } }).twargaTerminals?.dispose();
  await guest?.close();
  await t?.close();
});

const as = (actor: Actor | null) => (signedIn.actor = actor);
const params = (id: string) => ({ params: Promise.resolve({ id }) });
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  new Request(`http://localhost${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "sec-fetch-site": "same-origin", ...headers },
    body: JSON.stringify(body),
  });

async function open(actor: Actor | null, body: unknown = { vmId, cols: 80, rows: 24 }) {
  as(actor);
  const { POST } = await import("~/app/api/terminal/route");
  return POST(post("/api/terminal", body));
}

async function input(id: string, seq: number, data: string) {
  const { POST } = await import("~/app/api/terminal/[id]/input/route");
  return POST(post(`/api/terminal/${id}/input`, { seq, data }), params(id));
}

interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** Reads a text/event-stream response the way EventSource does. */
function reader(res: Response) {
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  const body = res.body!.getReader();
  let buffer = "";
  let done = false;
  let raw = "";
  void (async () => {
    for (;;) {
      const { value, done: end } = await body.read().catch(() => ({ value: undefined, done: true }));
      if (end) break;
      const text = decoder.decode(value, { stream: true });
      buffer += text;
      raw += text;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const e: SseEvent = { event: "message", data: "" };
        let hasData = false;
        for (const line of block.split("\n")) {
          const [field, ...rest] = line.split(":");
          const value = rest.join(":").replace(/^ /, "");
          if (field === "id") e.id = value;
          else if (field === "event") e.event = value;
          else if (field === "data") {
            e.data += value;
            hasData = true;
          }
        }
        if (hasData) events.push(e);
      }
    }
    done = true;
  })();
  return {
    events,
    raw: () => raw,
    text: () =>
      events
        .filter((e) => e.event === "message")
        .map((e) => JSON.parse(e.data) as string)
        .join(""),
    lastId: () => events.filter((e) => e.id).at(-1)?.id,
    done: () => done,
    cancel: () => body.cancel(),
  };
}

async function stream(actor: Actor | null, id: string, headers: Record<string, string> = {}) {
  as(actor);
  const { GET } = await import("~/app/api/terminal/[id]/route");
  return GET(new Request(`http://localhost/api/terminal/${id}`, { headers: { "sec-fetch-site": "same-origin", ...headers } }), params(id));
}

async function waitFor<T>(what: string, fn: () => T, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("the terminal routes", () => {
  it("refuse the signed-out, other sites and bodies that are not JSON", async () => {
    expect((await open(null)).status).toBe(401);
    expect((await stream(null, "x".repeat(43))).status).toBe(401);
    as(alice);
    const { POST } = await import("~/app/api/terminal/route");
    const crossSite = await POST(post("/api/terminal", { vmId, cols: 80, rows: 24 }, { "sec-fetch-site": "cross-site" }));
    expect(crossSite.status).toBe(403);
    const form = await POST(
      new Request("http://localhost/api/terminal", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `vmId=${vmId}` }),
    );
    expect([form.status, await form.json()]).toEqual([400, { error: "Send JSON (content-type: application/json)." }]);
    const tooWide = await open(alice, { vmId, cols: 5000, rows: 24 });
    expect(tooWide.status).toBe(400);
    expect(guest.shellsStarted()).toBe(0);
  });

  it("answer another user exactly as for a VM or a terminal that does not exist", async () => {
    const others = await open(bob);
    const missing = await open(bob, { vmId: "cmissingvmid0000000000000", cols: 80, rows: 24 });
    expect(others.status).toBe(404);
    expect(await others.json()).toEqual(await missing.json());

    const opened = await open(alice);
    expect(opened.status).toBe(201);
    const { id } = (await opened.json()) as { id: string };
    const stolen = await stream(bob, id);
    const unknown = await stream(bob, "B".repeat(43));
    expect([stolen.status, await stolen.text()]).toEqual([404, await unknown.text()]);
    as(bob);
    expect((await input(id, 1, "echo bob\r")).status).toBe(404);
    const { POST: close } = await import("~/app/api/terminal/[id]/close/route");
    expect((await close(post(`/api/terminal/${id}/close`, {}), params(id))).status).toBe(404);
    as(alice);
    expect((await close(post(`/api/terminal/${id}/close`, {}), params(id))).status).toBe(204);
  });

  it("stream output as server-sent events that a proxy passes through, take input and resize, and resume after a dropped stream", async () => {
    const opened = await open(alice, { vmId, cols: 90, rows: 20 });
    expect(opened.status).toBe(201);
    const { id, vmName } = (await opened.json()) as { id: string; vmName: string };
    expect(vmName).toBe("web-1");

    const res = await stream(alice, id);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-cache, no-transform");
    expect(res.headers.get("x-accel-buffering")).toBe("no");
    const first = reader(res);
    await waitFor("the prompt", () => first.text().includes(GUEST_PROMPT));
    expect(first.raw().startsWith("retry: 1000\n\n")).toBe(true);

    as(alice);
    expect((await input(id, 1, "echo $((6*7))\r")).status).toBe(204);
    await waitFor("the answer", () => first.text().includes("\r42\r\n"));
    const { POST: resize } = await import("~/app/api/terminal/[id]/resize/route");
    expect((await resize(post(`/api/terminal/${id}/resize`, { cols: 132, rows: 43 }), params(id))).status).toBe(204);
    await waitFor("the new size at the guest", () => guest.windows.some((w) => w.cols === 132 && w.rows === 43));

    // The network drops: the browser's stream is gone, the shell goes on.
    const lastSeen = Number(first.lastId());
    await first.cancel();
    expect((await input(id, 2, "echo missed-$((3*3))\r")).status).toBe(204);
    await new Promise((r) => setTimeout(r, 300));
    const resumed = reader(await stream(alice, id, { "last-event-id": String(lastSeen) }));
    await waitFor("the missed output", () => resumed.text().includes("missed-9"));
    expect(Number(resumed.events.find((e) => e.id)!.id)).toBe(lastSeen + 1);
    expect(resumed.text()).not.toContain("\r42\r\n");

    // Closing ends the stream with the reason; input after that is refused.
    const { POST: close } = await import("~/app/api/terminal/[id]/close/route");
    expect((await close(post(`/api/terminal/${id}/close`, {}), params(id))).status).toBe(204);
    await waitFor("the end of the stream", () => resumed.done());
    expect(resumed.events.at(-1)).toEqual({ event: "closed", data: JSON.stringify({ reason: "closed by you" }) });
    const late = await input(id, 3, "echo late\r");
    expect([late.status, await late.json()]).toEqual([409, { error: "The terminal is closed: closed by you." }]);
  });
});
