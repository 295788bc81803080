// The correlation rules read events by cursor, so they see the events of every
// process exactly once: failed sign-ins recorded by a separate web-only process
// (its own database client, no rules of its own) raise brute force once in the
// background readers, with two readers at once, across a restart, and around
// the holes PostgreSQL leaves in Event.seq (a transaction that commits after
// later ones, one that rolls back).
import path from "node:path";
import { execa } from "execa";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDatabaseClient, type Db } from "~/server/db/client";
import { CORRELATION_CURSOR, RAISED, startCorrelation } from "~/server/events/correlation";
import { EventCursor } from "~/server/events/cursor";
import { recordEvent } from "~/server/events/record";
import { createTestDb, type TestDb } from "../../support/db";
import { PROVIDERS } from "../db/providers";

const child = path.join(import.meta.dirname, "correlation-cursor-child.ts");
const settings = { bruteForceThreshold: 5, bruteForceWindowMs: 10 * 60_000, massDestroyThreshold: 5, massDestroyWindowMs: 10 * 60_000 };

/** A separate process with BACKGROUND_SERVICES=false records `count` failed sign-ins from `ip`. */
async function webOnlyProcess(url: string, ip: string, count: number) {
  const r = await execa(process.execPath, ["--import", "tsx", child, url, ip, String(count)], { env: { BACKGROUND_SERVICES: "false" } });
  expect(r.stdout).toContain(`recorded ${count}`);
}

async function until(check: () => Promise<boolean>, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

const failure = (ip: string) => ({ type: "auth", action: "signin.failed", severity: "WARNING", message: "sign-in failed", sourceIp: ip }) as const;

describe.each(PROVIDERS)("$title", ({ provider, skip }) => {
  if (skip) return void it.skip("needs TEST_POSTGRES_URL", () => {});
  // Only PostgreSQL numbers events before they commit; SQLite has one writer at a time, so these cases cannot arise there (and are not listed as skipped).
  const itOnPostgres = (name: string, fn: () => Promise<void>) => {
    if (provider === "postgresql") it(name, fn);
  };
  let t: TestDb;
  let clients: Db[];
  let readers: ReturnType<typeof startCorrelation>[];
  const raised = (ip?: string) => t.db.event.findMany({ where: { action: RAISED.bruteForce, ...(ip ? { sourceIp: ip } : {}) } });
  const cursorPosition = async () => (await t.db.eventCursor.findUniqueOrThrow({ where: { name: CORRELATION_CURSOR } })).position;
  const client = () => {
    const c = createDatabaseClient(t.url);
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    t = await createTestDb({ provider });
    clients = [];
    readers = [];
  });
  afterEach(async () => {
    for (const r of readers) await r.stop();
    for (const c of clients) await c.$disconnect();
    await t.close();
  });

  it("raises brute force once for five failed sign-ins from a web-only process, with two background readers", async () => {
    readers.push(startCorrelation(t.db, settings, undefined, { pollMs: 100 }), startCorrelation(client(), settings, undefined, { pollMs: 100 }));
    await webOnlyProcess(t.url, "203.0.113.9", 5);
    await until(async () => (await raised()).length > 0);
    for (const r of readers) await r.catchUp();
    const events = await raised();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ severity: "CRITICAL", sourceIp: "203.0.113.9" });
    expect(events[0]!.details).toMatchObject({ failures: 5, threshold: 5 });
    // Every event was read past once, the raised one included.
    const { _max } = await t.db.event.aggregate({ _max: { seq: true } });
    expect(await cursorPosition()).toBe(_max.seq);
  });

  it("after a restart reads what was recorded while no background process ran, and nothing twice", async () => {
    let reader = startCorrelation(t.db, settings, undefined, { pollMs: 60_000 });
    await webOnlyProcess(t.url, "198.51.100.7", 5);
    await reader.catchUp();
    expect(await raised("198.51.100.7")).toHaveLength(1);
    await reader.stop();

    await webOnlyProcess(t.url, "198.51.100.8", 5); // nobody reads
    expect(await raised("198.51.100.8")).toHaveLength(0);

    reader = startCorrelation(client(), settings, undefined, { pollMs: 60_000 });
    readers.push(reader);
    await reader.catchUp();
    expect(await raised("198.51.100.8")).toHaveLength(1);
    expect(await raised("198.51.100.7")).toHaveLength(1);
  });

  it("reads past an event whose handling keeps failing, after three tries, and keeps what the others did", async () => {
    const handled: string[] = [];
    const cursor = new EventCursor(t.db, "test-reader");
    const handler = {
      wants: () => true,
      handle: async (_tx: unknown, e: { message: string }) => {
        if (e.message === "poison") throw new Error("rule bug");
        handled.push(e.message);
      },
    };
    for (const message of ["first", "poison", "last"]) await recordEvent(t.db, { type: "system", action: "test", message });
    await expect(cursor.readNew(handler)).rejects.toThrow("rule bug");
    await expect(cursor.readNew(handler)).rejects.toThrow("rule bug");
    expect(handled).toEqual(["first"]);
    expect(await cursor.readNew(handler)).toBe(2);
    expect(handled).toEqual(["first", "last"]);
    expect(await cursor.position()).toBe((await t.db.event.aggregate({ _max: { seq: true } }))._max.seq);
  });

  itOnPostgres("waits for an event whose transaction commits after later ones", async () => {
    const reader = startCorrelation(t.db, settings, undefined, { pollMs: 60_000, gapWaitMs: 60_000 });
    readers.push(reader);
    const ip = "192.0.2.50";
    let inserted!: () => void;
    let release!: () => void;
    const insertedNow = new Promise<void>((r) => (inserted = r));
    const gate = new Promise<void>((r) => (release = r));
    const slow = client().$transaction(
      async (tx) => {
        await recordEvent(tx, failure(ip));
        inserted();
        await gate;
      },
      { timeout: 20_000 },
    );
    await insertedNow;
    for (let i = 0; i < 4; i++) await recordEvent(t.db, failure(ip));
    await reader.catchUp();
    // The four committed events lie past the hole: the reader has not gone past it.
    const committed = await t.db.event.findMany({ where: { sourceIp: ip }, orderBy: { seq: "asc" } });
    expect(committed).toHaveLength(4);
    expect(await cursorPosition()).toBeLessThan(committed[0]!.seq - 1);
    expect(await raised(ip)).toHaveLength(0);

    release();
    await slow;
    await reader.catchUp();
    const events = await raised(ip);
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toMatchObject({ failures: 5 });
  });

  itOnPostgres("reads past the hole a rolled-back transaction leaves, once it has waited for it", async () => {
    const reader = startCorrelation(t.db, settings, undefined, { pollMs: 60_000, gapWaitMs: 300 });
    readers.push(reader);
    const ip = "192.0.2.60";
    await expect(
      client().$transaction(async (tx) => {
        await recordEvent(tx, failure(ip));
        throw new Error("rolled back");
      }),
    ).rejects.toThrow("rolled back");
    for (let i = 0; i < 5; i++) await recordEvent(t.db, failure(ip));
    await reader.catchUp();
    expect(await raised(ip)).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 350));
    await reader.catchUp();
    const events = await raised(ip);
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toMatchObject({ failures: 5 });
  });
});
