// The monitoring admin mutations (alert rules, webhook and ntfy channels, the
// signing secret, collect now, retention now) go to the audit log like every
// other admin action: one AuditLog row each naming the admin and the procedure,
// none for a refused call, and never a signing secret or an ntfy token in it.
// The walk covers every mutation of the metrics router, so a new one without a
// row here fails.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { appRouter, createCaller } from "~/server/api/root";
import { startSampler, type Sampler } from "~/server/metrics/sampler";
import type { Actor } from "~/server/permissions";
import { createTestDb, type TestDb } from "../../support/db";
import { PROVIDERS } from "../db/providers";

vi.mock("~/server/auth/actor", () => ({ getActor: async () => null }));

const NTFY_TOKEN = "tk_stand_in_token_0123456789";
const rule = {
  name: "Load watch",
  metric: "cpuPct",
  comparison: "gte",
  threshold: 80,
  clearThreshold: 70,
  durationS: 30,
  scope: "host",
  severity: "WARNING",
  enabled: true,
  webhookUrl: "https://hooks.example.com/twarga",
  ntfyUrl: "https://ntfy.example.com/twarga-alerts",
  ntfyToken: NTFY_TOKEN,
} as const;

describe.each(PROVIDERS)("$title", ({ provider, skip }) => {
  if (skip) return void it.skip("needs TEST_POSTGRES_URL", () => {});
  let t: TestDb;
  let admin: Actor, user: Actor;
  let sampler: Sampler;
  const ids: Record<string, string> = {};
  const secrets: string[] = [NTFY_TOKEN];
  const metrics = (actor: Actor) =>
    createCaller({ db: t.db, actor, sourceIp: "192.0.2.1", userAgent: "vitest" }).metrics as unknown as Record<string, (i?: unknown) => Promise<unknown>>;

  /** A valid input for every monitoring mutation, and what its audit row's target is. */
  const mutations: Record<string, { input: () => unknown; targetType: string; targetId?: () => string }> = {
    createRule: { input: () => rule, targetType: "AlertRule" },
    updateRule: { input: () => ({ ...rule, id: ids.rule, threshold: 85, ntfyToken: undefined }), targetType: "AlertRule", targetId: () => ids.rule! },
    rotateWebhookSecret: { input: () => ({ id: ids.rule }), targetType: "AlertRule", targetId: () => ids.rule! },
    deleteRule: { input: () => ({ id: ids.rule }), targetType: "AlertRule", targetId: () => ids.rule! },
    collectNow: { input: () => undefined, targetType: "Metrics" },
    retentionNow: { input: () => undefined, targetType: "Metrics" },
  };
  const order = ["createRule", "updateRule", "rotateWebhookSecret", "deleteRule", "collectNow", "retentionNow"];

  beforeAll(async () => {
    t = await createTestDb({ provider });
    const mk = async (email: string, role: "USER" | "ADMIN") => ({ id: (await t.db.user.create({ data: { email, role } })).id, email, role }) satisfies Actor;
    admin = await mk("admin@example.com", "ADMIN");
    user = await mk("user@example.com", "USER");
    // Collect now runs a tick on this process's sampler (the real host collector).
    sampler = startSampler({ db: t.db, alerts: null, retentionIntervalMs: null, intervalMs: 3_600_000 });
  });
  afterAll(async () => {
    await sampler.stop();
    await t.close();
  });

  it("walks every mutation of the metrics router", () => {
    const found = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>)
      .filter(([path, p]) => path.startsWith("metrics.") && p._def.type === "mutation")
      .map(([path]) => path.slice("metrics.".length));
    expect(found.sort()).toEqual(Object.keys(mutations).sort());
    expect([...order].sort()).toEqual(Object.keys(mutations).sort());
  });

  it("refuses them to a non-admin, with no audit row", async () => {
    for (const name of order) await expect(metrics(user)[name]!(mutations[name]!.input()), name).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(await t.db.auditLog.count()).toBe(0);
  });

  it("writes one audit row for each, with who, what and the target, and no secret", async () => {
    for (const name of order) {
      const before = await t.db.auditLog.count();
      const result = (await metrics(admin)[name]!(mutations[name]!.input())) as { id?: string; webhookSecret?: string } | undefined;
      if (name === "createRule") ids.rule = result!.id!;
      if (result?.webhookSecret) secrets.push(result.webhookSecret);
      expect(await t.db.auditLog.count(), name).toBe(before + 1);
      const row = await t.db.auditLog.findFirstOrThrow({ where: { action: `metrics.${name}` } });
      expect(row, name).toMatchObject({ actorId: admin.id, actorEmail: admin.email, targetType: mutations[name]!.targetType });
      if (mutations[name]!.targetId) expect(row.targetId, name).toBe(mutations[name]!.targetId!());
      expect(row.after, name).not.toBeNull();
    }
    expect(secrets.length).toBeGreaterThanOrEqual(3); // the token, the secret made with the rule, the rotated one
    const created = await t.db.auditLog.findFirstOrThrow({ where: { action: "metrics.createRule" } });
    expect(created.after).toMatchObject({ name: "Load watch", ntfyUrl: rule.ntfyUrl, hasNtfyToken: true, secretIssued: true });
    const updated = await t.db.auditLog.findFirstOrThrow({ where: { action: "metrics.updateRule" } });
    expect(updated.before).toMatchObject({ threshold: 80 });
    expect(updated.after).toMatchObject({ threshold: 85, ntfyToken: "unchanged", hasNtfyToken: true });
    const collected = await t.db.auditLog.findFirstOrThrow({ where: { action: "metrics.collectNow" } });
    expect((collected.after as { written: number }).written).toBeGreaterThan(0);
    // Neither the audit log nor the event feed ever holds a secret or the token.
    const everything = JSON.stringify([await t.db.auditLog.findMany(), await t.db.event.findMany()]);
    for (const s of secrets) expect(everything).not.toContain(s);
  });
});
