import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminHealth, defaultProbes, type HealthProbes } from "~/server/admin/health";
import { parseEnv } from "~/server/env";
import type { Actor } from "~/server/permissions";
import { createTestDb, type TestDb } from "../../support/db";

let t: TestDb;
const admin: Actor = { id: "a", email: "a@example.com", role: "ADMIN" };
// Not created yet, as before the first VM: free space is read from its parent's filesystem.
const vmRoot = path.join(mkdtempSync(path.join(tmpdir(), "vm-root-")), "vms");

beforeAll(async () => {
  t = await createTestDb();
});
afterAll(() => t.close());

describe("admin health", () => {
  it("reports the real database, migrations and disk, with a hypervisor probe that fails", async () => {
    const e = parseEnv({ DATABASE_URL: t.url, VM_ROOT: vmRoot, SSHD_LOG_PATH: "/nonexistent/auth.log" });
    const probes: HealthProbes = {
      ...defaultProbes,
      host: async () => {
        throw new Error("virsh: command not found");
      },
      sampler: () =>
        ({
          running: true,
          intervalMs: 5000,
          startedAt: 0,
          ticks: 3,
          skippedTicks: 0,
          lastTickAt: 1_000_000,
          lastTickDurationMs: 2,
          tickMsP50: 1,
          tickMsP95: 2,
          errorsByCollector: {},
          lastErrors: {},
          lastRetentionAt: null,
        }) as never,
    };
    const h = await adminHealth(t.db, admin, probes, e, 1_004_000);
    expect(h.database.reachable).toBe(true);
    expect(h.database.bytes).toBeGreaterThan(0);
    expect(h.migrations).toEqual({ pending: [], error: null });
    expect(h.sampler).toMatchObject({ running: true, lagMs: 4000 });
    expect(h.host).toMatchObject({ ready: false, message: "virsh: command not found" });
    expect(h.vmRoot.path).toBe(vmRoot);
    expect(h.vmRoot.free).toBeGreaterThan(0);
    expect(h.openAlerts).toBe(0);
    expect(h.sshdLog).toMatchObject({ path: "/nonexistent/auth.log", state: null });
    expect(h.version).toMatch(/\d/);
  });

  it("is for admins only", async () => {
    await expect(adminHealth(t.db, { ...admin, role: "USER" })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });
});
