// The export route applies the feed's visibility rule to whoever is signed in.
import { signedIn } from "../../support/signed-in";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Actor } from "~/server/permissions";
import { createTestDb, type TestDb } from "../../support/db";

let t: TestDb;
let alice: Actor, bob: Actor;

beforeAll(async () => {
  t = await createTestDb();
  signedIn.db = t.db;
  const { recordEvent } = await import("~/server/events/record");
  const a = await t.db.user.create({ data: { email: "alice@example.com" } });
  const b = await t.db.user.create({ data: { email: "bob@example.com" } });
  alice = { id: a.id, email: a.email, role: "USER" };
  bob = { id: b.id, email: b.email, role: "USER" };
  await recordEvent(t.db, { type: "auth", action: "signin", message: "alice signed in", actorId: a.id, sourceIp: "192.0.2.1" });
  await recordEvent(t.db, { type: "auth", action: "signin", message: "bob signed in", actorId: b.id, sourceIp: "192.0.2.2" });
});
afterAll(() => t.close());

async function get(query: string) {
  const { GET } = await import("~/app/api/events/export/route");
  return GET(new Request(`http://localhost/api/events/export?${query}`));
}

describe("GET /api/events/export", () => {
  it("refuses the signed-out", async () => {
    signedIn.actor = null;
    expect((await get("format=csv")).status).toBe(401);
  });

  it("streams only the caller's events, in the asked format, as an attachment", async () => {
    signedIn.actor = alice;
    const res = await get("format=jsonl&type=auth");
    expect(res.headers.get("content-type")).toContain("application/x-ndjson");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="twarga-events-.*\.jsonl"$/);
    const lines = (await res.text())
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { message: string });
    expect(lines.map((l) => l.message)).toEqual(["alice signed in"]);
    signedIn.actor = bob;
    const csv = await (await get("format=csv&q=signed")).text();
    expect(csv).toContain("bob signed in");
    expect(csv).not.toContain("alice");
  });
});
