// Insecure direct object references: a signed-in user who knows (or guesses)
// the id of someone else's VM, job, metric history, event or terminal session
// gets exactly what they would get for an id that does not exist (no
// existence oracle), sees none of it in any list or export, and changes
// nothing. Through the real tRPC router and the real terminal and export
// route handlers; the terminal runs a real shell in a stand-in guest over SSH.
import "../integration/vms/harness";
import { signedIn } from "../support/signed-in";
import { readFileSync } from "node:fs";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCaller } from "~/server/api/root";
import { ensureVmKey } from "~/server/access/vm-key";
import { recordEvent } from "~/server/events/record";
import { writeTick } from "~/server/metrics/store";
import type { Actor } from "~/server/permissions";
import { createTestDb, type TestDb } from "../support/db";
import { startStandInGuest, terminalVmData, type StandInGuest } from "../integration/access/terminal-guest";

let t: TestDb;
let guest: StandInGuest;
let owner: Actor, stranger: Actor;
let vmId: string, jobId: string, eventId: string;
const MISSING = "cmissing00000000000000000";

beforeAll(async () => {
  t = await createTestDb();
  signedIn.db = t.db;
  const mk = async (email: string) => {
    const u = await t.db.user.create({ data: { email } });
    return { id: u.id, email, role: "USER" as const };
  };
  owner = await mk("owner@example.com");
  stranger = await mk("stranger@example.com");
  const box = await t.db.box.create({ data: { name: "local/debian12", displayName: "Debian 12", osFamily: "debian" } });
  const vm = await t.db.vm.create({ data: terminalVmData("secret-vm", owner.id, box.id) });
  vmId = vm.id;
  jobId = (
    await t.db.vmJob.create({
      data: { vmId, requestedById: owner.id, requestedByEmail: owner.email, kind: "CREATE", state: "SUCCEEDED", output: "owner's output" },
    })
  ).id;
  const event = await recordEvent(t.db, {
    type: "vm",
    action: "vm.started",
    actorId: owner.id,
    actorEmail: owner.email,
    targetUserId: owner.id,
    targetVmId: vmId,
    message: "secret-vm started",
  });
  eventId = (event as { id: string }).id;
  const now = Date.now();
  for (let i = 0; i < 5; i++) await writeTick(t.db, now - i * 5000, [{ source: `vm:${vmId}`, values: { cpuPct: 42, memPct: 10 } }]);
  const { publicKey } = await ensureVmKey(vmId);
  guest = await startStandInGuest({ authorizedKeys: [readFileSync(publicKey, "utf8")] });
  await t.db.vm.update({ where: { id: vmId }, data: { sshPort: guest.port } });
});

afterAll(async () => {
  (globalThis as { twargaTerminals?: { dispose(): void } }).twargaTerminals?.dispose();
  await guest?.close();
  await t?.close();
});

const as = (actor: Actor) => createCaller({ db: t.db, actor, sourceIp: "203.0.113.5", userAgent: "idor" });

/** What a call answers: its result, or the error's code and message (what a client could tell apart). */
async function answer(call: Promise<unknown>): Promise<unknown> {
  try {
    return { ok: await call };
  } catch (err) {
    if (err instanceof TRPCError) return { code: err.code, message: err.message };
    throw err;
  }
}

describe("tRPC: someone else's id answers as a missing one", () => {
  const cases: Record<string, (c: ReturnType<typeof as>, id: { vm: string; job: string; event: string }) => Promise<unknown>> = {
    "vms.get": (c, id) => c.vms.get({ id: id.vm }),
    "vms.jobs": (c, id) => c.vms.jobs({ id: id.vm }),
    "vms.job": (c, id) => c.vms.job({ jobId: id.job }),
    "vms.stop": (c, id) => c.vms.stop({ id: id.vm }),
    "vms.restart": (c, id) => c.vms.restart({ id: id.vm }),
    "vms.destroy": (c, id) => c.vms.destroy({ id: id.vm, confirmName: "secret-vm" }),
    "metrics.vmCurrent": (c, id) => c.metrics.vmCurrent({ vmId: id.vm }),
    "metrics.vmHistory": (c, id) => c.metrics.vmHistory({ vmId: id.vm, metrics: ["cpuPct"], range: "1h" }),
    "events.get": (c, id) => c.events.get({ id: id.event }),
  };

  it.each(Object.keys(cases))("%s", async (name) => {
    const call = cases[name]!;
    const theirs = await answer(call(as(stranger), { vm: vmId, job: jobId, event: eventId }));
    const missing = await answer(call(as(stranger), { vm: MISSING, job: MISSING, event: MISSING }));
    expect(theirs).toMatchObject({ code: "NOT_FOUND" });
    expect(theirs).toEqual(missing);
    // And the owner does get it: the id was right. (Not for the actions, which would change the VM the
    // other tests use; the authorization matrix shows the owner may do them.)
    if (!["vms.stop", "vms.restart", "vms.destroy"].includes(name))
      expect(await answer(call(as(owner), { vm: vmId, job: jobId, event: eventId }))).toHaveProperty("ok");
  });

  it("left the owner's VM untouched (no job queued by the stranger's attempts)", async () => {
    const jobs = await t.db.vmJob.findMany({ where: { vmId } });
    expect(jobs.filter((j) => j.requestedById === stranger.id)).toEqual([]);
  });
});

describe("lists, filters and exports show none of it", () => {
  it("VM list, current readings and open alerts", async () => {
    const c = as(stranger);
    expect(await c.vms.list({ includeDestroyed: true })).toEqual([]);
    const now = await c.metrics.current();
    expect(JSON.stringify(now)).not.toContain(vmId);
    expect(JSON.stringify(await c.vms.myAccount())).not.toContain(vmId);
  });

  it("the event feed, even filtered on the owner's VM, user id, email or the VM's name", async () => {
    const c = as(stranger);
    for (const filter of [{}, { vm: vmId }, { user: owner.id }, { user: owner.email }, { q: "secret-vm" }]) {
      const page = await c.events.list(filter);
      expect(page.items.filter((e) => e.id === eventId || e.targetVmId === vmId || e.actorId === owner.id)).toEqual([]);
    }
  });

  it("the CSV and JSON-lines exports", async () => {
    signedIn.actor = stranger;
    const { GET } = await import("~/app/api/events/export/route");
    for (const query of ["format=csv", `format=jsonl&vm=${vmId}`, `format=csv&user=${owner.id}`]) {
      const res = await GET(new Request(`http://localhost/api/events/export?${query}`));
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).not.toContain(vmId);
      expect(text).not.toContain("secret-vm");
    }
  });
});

describe("terminal sessions", () => {
  const params = (id: string) => ({ params: Promise.resolve({ id }) });
  const post = (path: string, body: unknown) =>
    new Request(`http://localhost${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "sec-fetch-site": "same-origin" },
      body: JSON.stringify(body),
    });
  const routes = async () => ({
    open: (await import("~/app/api/terminal/route")).POST,
    stream: (await import("~/app/api/terminal/[id]/route")).GET,
    input: (await import("~/app/api/terminal/[id]/input/route")).POST,
    resize: (await import("~/app/api/terminal/[id]/resize/route")).POST,
    close: (await import("~/app/api/terminal/[id]/close/route")).POST,
  });
  const seen = async (res: Response) => [res.status, await res.text()];

  it("a stranger can neither open a terminal on the owner's VM nor use the owner's session, and is told what a missing one gets", async () => {
    const r = await routes();
    signedIn.actor = stranger;
    expect(await seen(await r.open(post("/api/terminal", { vmId, cols: 80, rows: 24 })))).toEqual(
      await seen(await r.open(post("/api/terminal", { vmId: MISSING, cols: 80, rows: 24 }))),
    );
    expect(guest.shellsStarted()).toBe(0);

    signedIn.actor = owner;
    const opened = await r.open(post("/api/terminal", { vmId, cols: 80, rows: 24 }));
    expect(opened.status).toBe(201);
    const { id } = (await opened.json()) as { id: string };
    const unknown = "A".repeat(id.length);

    signedIn.actor = stranger;
    const get = (sid: string) => new Request(`http://localhost/api/terminal/${sid}`, { headers: { "sec-fetch-site": "same-origin" } });
    for (const [name, call] of [
      ["stream", (sid: string) => r.stream(get(sid), params(sid))],
      ["input", (sid: string) => r.input(post(`/api/terminal/${sid}/input`, { seq: 1, data: "echo stolen\r" }), params(sid))],
      ["resize", (sid: string) => r.resize(post(`/api/terminal/${sid}/resize`, { cols: 100, rows: 30 }), params(sid))],
      ["close", (sid: string) => r.close(post(`/api/terminal/${sid}/close`, {}), params(sid))],
    ] as const) {
      const theirs = await seen(await call(id));
      expect(theirs[0], name).toBe(404);
      expect(theirs, name).toEqual(await seen(await call(unknown)));
    }

    // The owner's session is still open and theirs alone: the stranger's close did nothing.
    signedIn.actor = owner;
    expect((await r.resize(post(`/api/terminal/${id}/resize`, { cols: 81, rows: 25 }), params(id))).status).toBe(204);
    expect(guest.windows.some((w) => w.cols === 100)).toBe(false);
    expect((await r.close(post(`/api/terminal/${id}/close`, {}), params(id))).status).toBe(204);
  });
});
