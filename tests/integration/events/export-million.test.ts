// Exports 1,000,000 events and checks that memory stays flat: the export reads
// keyset pages, so what it holds is one page, however many rows stream out.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlitePath } from "~/server/db/client";
import { exportEvents } from "~/server/events/export";
import type { Actor } from "~/server/permissions";
import { createTestDb, type TestDb } from "../../support/db";

const TOTAL = 1_000_000;
// A full collection before each sample, so heapUsed is what is live, not garbage
// waiting for the collector (the flag can be turned on at run time).
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
let t: TestDb;
let admin: Actor;

beforeAll(async () => {
  t = await createTestDb();
  const u = await t.db.user.create({ data: { email: "admin@example.com", role: "ADMIN" } });
  admin = { id: u.id, email: u.email, role: "ADMIN" };
  // Bulk seed outside Prisma (and outside recordEvent, which is for real events):
  // one transaction of prepared inserts, in the same text format Prisma stores.
  const conn = new Database(sqlitePath(t.url));
  const insert = conn.prepare(
    `INSERT INTO "Event" (id, createdAt, type, action, severity, actorId, actorEmail, sourceIp, message, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const start = Date.parse("2026-10-01T00:00:00Z");
  conn.transaction(() => {
    for (let i = 0; i < TOTAL; i++) {
      // two events per second: ties on createdAt all through the export
      const createdAt = new Date(start + Math.floor(i / 2) * 1000).toISOString().replace("Z", "+00:00");
      insert.run(
        `ev${String(i).padStart(8, "0")}`,
        createdAt,
        i % 3 ? "ssh" : "auth",
        "ssh.failed",
        i % 10 ? "INFO" : "WARNING",
        u.id,
        u.email,
        `203.0.${(i >> 8) & 255}.${i & 255}`,
        `SSH: failed password for "user${i}" from 203.0.113.5, attempt ${i}`,
        JSON.stringify({ port: i, user: `user${i}` }),
      );
    }
  })();
  conn.close();
}, 300_000);
afterAll(() => t.close());

describe("export of a million events", () => {
  it("streams every row once with flat memory", async () => {
    const samples: { rows: number; heap: number; rss: number }[] = [];
    let rows = -1; // the CSV header
    let bytes = 0;
    let firstId: string | null = null;
    let lastId = "";
    for await (const chunk of exportEvents(t.db, admin, {}, "csv")) {
      let nl = -1;
      while ((nl = chunk.indexOf("\r\n", nl + 1)) >= 0) rows++;
      bytes += Buffer.byteLength(chunk);
      const lines = chunk.trimEnd().split("\r\n");
      if (rows > 0) {
        firstId ??= lines.find((l) => l.startsWith("ev"))!.split(",")[0]!;
        lastId = lines[lines.length - 1]!.split(",")[0]!;
      }
      if (samples.length === 0 || rows - samples[samples.length - 1]!.rows >= 50_000) {
        gc();
        const m = process.memoryUsage();
        samples.push({ rows, heap: m.heapUsed, rss: m.rss });
      }
    }
    expect(rows).toBe(TOTAL);
    expect(firstId).toBe(`ev${String(TOTAL - 1).padStart(8, "0")}`); // newest first
    expect(lastId).toBe("ev00000000");
    // Memory after the first 100,000 rows vs the peak over the rest: a leak of
    // even 100 bytes per row would add 90 MB here; the output itself is > 150 MB.
    const warm = samples.find((s) => s.rows >= 100_000)!;
    const later = samples.filter((s) => s.rows > warm.rows);
    const heapGrowth = Math.max(...later.map((s) => s.heap)) - warm.heap;
    const rssGrowth = Math.max(...later.map((s) => s.rss)) - warm.rss;
    console.log(
      `[export] ${rows} rows, ${(bytes / 1e6).toFixed(0)} MB out; heap ${(warm.heap / 1e6).toFixed(0)} MB at 100k rows, ` +
        `growth after ${(heapGrowth / 1e6).toFixed(1)} MB; rss ${(warm.rss / 1e6).toFixed(0)} MB, growth ${(rssGrowth / 1e6).toFixed(1)} MB`,
    );
    expect(bytes).toBeGreaterThan(150e6);
    expect(heapGrowth).toBeLessThan(16e6);
    expect(rssGrowth).toBeLessThan(96e6);
  }, 600_000);
});
