// Alert rules: the defaults, validation and the admin edits. Who may edit is
// decided by the caller (adminProcedure → isAdmin); this module keeps rules sane.
import { z } from "zod";
import type { Db } from "../../db/client";
import { DomainError, notFound } from "../../errors";
import { recordEvent } from "../../events/record";
import type { Actor } from "../../permissions";
import { isMetricName, METRICS, type MetricName, type SourceKind } from "../catalog";

export const COMPARISONS = ["gte", "lte"] as const;
export const SCOPES = ["host", "vms"] as const;
export type Comparison = (typeof COMPARISONS)[number];
export type Scope = (typeof SCOPES)[number];

export const alertRuleInput = z.object({
  name: z.string().trim().min(1).max(100),
  metric: z.string().refine(isMetricName, "unknown metric"),
  comparison: z.enum(COMPARISONS),
  threshold: z.number().finite(),
  clearThreshold: z.number().finite(),
  durationS: z.number().int().min(0).max(86_400),
  scope: z.enum(SCOPES),
  severity: z.enum(["WARNING", "CRITICAL"]),
  enabled: z.boolean(),
  webhookUrl: z
    .url({ protocol: /^https?$/, message: "must be an http(s) URL" })
    .max(2000)
    .nullable(),
});
export type AlertRuleInput = z.infer<typeof alertRuleInput>;

const bad = (message: string) => new DomainError("BAD_REQUEST", message);

/** Checks what a schema cannot: the metric fits the scope, and the clear level lies on the right side. */
export function checkRule(rule: AlertRuleInput): void {
  const kind: SourceKind = rule.scope === "host" ? "host" : "vm";
  if (!(METRICS[rule.metric as MetricName].kinds as readonly SourceKind[]).includes(kind))
    throw bad(`"${rule.metric}" is not measured for ${rule.scope === "host" ? "the host" : "VMs"}.`);
  if (rule.comparison === "gte" && rule.clearThreshold > rule.threshold) throw bad("The clear level must be at or below the threshold (it is where the alert resolves).");
  if (rule.comparison === "lte" && rule.clearThreshold < rule.threshold) throw bad("The clear level must be at or above the threshold (it is where the alert resolves).");
}

type DefaultRule = AlertRuleInput & { builtinKey: string };
const base = { comparison: "gte", durationS: 60, scope: "host", severity: "WARNING", enabled: true, webhookUrl: null } as const;
export const DEFAULT_ALERT_RULES: readonly DefaultRule[] = [
  { ...base, builtinKey: "host.cpu", name: "Host CPU high", metric: "cpuPct", threshold: 90, clearThreshold: 80 },
  { ...base, builtinKey: "host.memory", name: "Host memory high", metric: "memPct", threshold: 85, clearThreshold: 80 },
  { ...base, builtinKey: "host.disk", name: "Host disk almost full", metric: "fsPct", threshold: 90, clearThreshold: 85, severity: "CRITICAL" },
  { ...base, builtinKey: "host.swap", name: "Host swapping", metric: "swapPct", threshold: 50, clearThreshold: 40 },
];

/**
 * Creates the default rules that do not exist yet (by builtinKey). Safe to run
 * on every start: an edited or disabled default is left as the admin set it.
 */
export async function ensureDefaultAlertRules(db: Db): Promise<number> {
  let created = 0;
  for (const rule of DEFAULT_ALERT_RULES) {
    const existing = await db.alertRule.findUnique({ where: { builtinKey: rule.builtinKey }, select: { id: true } });
    if (existing) continue;
    await db.alertRule.create({ data: rule }).then(
      () => created++,
      (err: unknown) => {
        // Another process seeded it between our read and write.
        if ((err as { code?: string }).code !== "P2002") throw err;
      },
    );
  }
  return created;
}

export const listAlertRules = (db: Db) => db.alertRule.findMany({ orderBy: [{ scope: "asc" }, { name: "asc" }] });

async function audit(db: Db, actor: Actor, action: string, rule: { id: string; name: string }, details: Record<string, unknown>) {
  await recordEvent(db, { type: "admin", action, message: `${actor.email} ${action.split(".").at(-1)}d alert rule "${rule.name}".`, actorId: actor.id, actorEmail: actor.email, details: { ruleId: rule.id, ...details } });
}

export async function createAlertRule(db: Db, actor: Actor, input: AlertRuleInput) {
  checkRule(input);
  const rule = await db.alertRule.create({ data: input });
  await audit(db, actor, "alert_rule.create", rule, { rule: input });
  return rule;
}

export async function updateAlertRule(db: Db, actor: Actor, id: string, input: AlertRuleInput) {
  checkRule(input);
  const existing = await db.alertRule.findUnique({ where: { id }, select: { id: true } });
  if (!existing) throw notFound("Alert rule");
  const rule = await db.alertRule.update({ where: { id }, data: input });
  await audit(db, actor, "alert_rule.update", rule, { rule: input });
  return rule;
}

/** Deletes a rule and its alert history. Defaults are disabled instead, so they are not seeded back. */
export async function deleteAlertRule(db: Db, actor: Actor, id: string) {
  const existing = await db.alertRule.findUnique({ where: { id }, select: { id: true, name: true, builtinKey: true } });
  if (!existing) throw notFound("Alert rule");
  if (existing.builtinKey) throw new DomainError("CONFLICT", "A default rule cannot be deleted; disable it instead.");
  await db.alertRule.delete({ where: { id } });
  await audit(db, actor, "alert_rule.delete", existing, {});
}

/** The latest webhook deliveries, for the admin page. */
export const recentWebhookDeliveries = (db: Db, take = 20) =>
  db.webhookDelivery.findMany({ orderBy: { createdAt: "desc" }, take, select: { id: true, url: true, event: true, status: true, attempts: true, lastStatus: true, lastError: true, createdAt: true, deliveredAt: true } });
