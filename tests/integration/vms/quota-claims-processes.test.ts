// Quota claims across processes: two separate Node processes, each running the
// app's own launch path (quota-claims-worker.ts) against one shared database,
// launch at the same moment for one user whose quota allows 3. On PostgreSQL
// the lock row's row lock serialises them; on SQLite the database's write lock
// does (a process that finds it taken waits out the busy timeout).
import { makeUser, tinyBox } from "./harness";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROVIDERS } from "../db/providers";
import { createTestDb, type TestDb } from "../../support/db";
import { adminSetUserQuota } from "~/server/vms/admin-actions";

const WORKER = path.join(import.meta.dirname, "quota-claims-worker.ts");
type Outcome = { ok: true; vmId: string } | { ok: false; code?: string; message: string };

for (const { provider, skip, title } of PROVIDERS) {
  describe.skipIf(skip)(`quota claims across two app processes (${title})`, () => {
    let t: TestDb;
    beforeAll(async () => {
      t = await createTestDb({ provider });
    });
    afterAll(async () => t.close());

    it("20 launches split across two processes, quota 3: exactly 3 accepted, the rest get the quota message", async () => {
      const boxId = (await tinyBox(t.db)).id;
      const admin = await makeUser(t.db, `admin-procs-${provider}@example.com`, "ADMIN");
      const user = await makeUser(t.db, `procs-${provider}@example.com`);
      await adminSetUserQuota(t.db, admin, user.id, { maxVms: 3 });

      const workers = ["a", "b"].map((prefix) =>
        execa(process.execPath, ["--import", "tsx", WORKER, t.url, JSON.stringify(user), boxId, "10", prefix], { reject: false, all: true }),
      );
      // Each loads everything first; then both launch at once.
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve, reject) => {
              const onData = (chunk: Buffer) => {
                if (!chunk.toString().includes("ready")) return;
                w.stdout.off("data", onData);
                resolve();
              };
              w.stdout.on("data", onData);
              void w.then((r) => reject(new Error(`worker exited before it was ready:\n${r.all}`)));
            }),
        ),
      );
      for (const w of workers) w.stdin.end("go\n");
      const done = await Promise.all(workers);
      const outcomes = done.map((r) => {
        expect(r.exitCode, r.all).toBe(0);
        return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Outcome[];
      });

      // Both processes really launched (10 each) and both took part in the race.
      expect(outcomes.map((o) => o.length)).toEqual([10, 10]);
      const all = outcomes.flat();
      expect(all.filter((o) => o.ok)).toHaveLength(3);
      for (const o of all.filter((o) => !o.ok))
        expect(o).toMatchObject({ code: "PRECONDITION_FAILED", message: "Quota reached: at most 3 VMs (you have 3). Destroy one first." });
      expect(await t.db.vm.count({ where: { ownerId: user.id, state: { not: "DESTROYED" } } })).toBe(3);
      expect(await t.db.userQuotaLock.findUnique({ where: { userId: user.id } })).toMatchObject({ claims: 20 });
    }, 120_000);
  });
}
