// Monitoring procedures: thin adapters over src/server/metrics. The admin
// mutations go through auditedAdminProcedure like every admin action: one
// AuditLog row each, never with a signing secret or an ntfy token in it.
import { z } from "zod";
import { adminProcedure, createTRPCRouter, protectedProcedure } from "../trpc";
import {
  alertRuleInput,
  createAlertRule,
  deleteAlertRule,
  getAlertRule,
  listAlertRules,
  recentWebhookDeliveries,
  rotateWebhookSecret,
  updateAlertRule,
  withoutToken,
} from "../../metrics/alerts/rules";
import { currentState, openAlertCount, vmCurrentState } from "../../metrics/current";
import { statusSummary } from "../../metrics/status";
import { metricsHealth } from "../../metrics/sampler-health";
import { defaultHostRange } from "../../metrics/default-range";
import { deviceHistory, hostDevices, hostHistory, MAX_METRICS, RANGE_KEYS, vmHistory } from "../../metrics/history";
import { collectNow, retentionNow } from "../../metrics/sampler";
import { auditedAdminProcedure } from "./admin";

const historyInput = z.object({
  metrics: z.array(z.string().max(40)).min(1).max(MAX_METRICS),
  range: z.enum(RANGE_KEYS).optional(),
  from: z.number().int().nonnegative().optional(),
  to: z.number().int().nonnegative().optional(),
});
const vmId = z.string().min(1).max(64);
// "fs:<watched path>" or "net:<interface>"; the domain refuses any other.
const deviceSource = z.string().min(1).max(300);

export const metricsRouter = createTRPCRouter({
  current: protectedProcedure.meta({ scope: "metrics:read" }).query(({ ctx }) => currentState(ctx.db, ctx.actor)),
  vmCurrent: protectedProcedure
    .meta({ scope: "metrics:read" })
    .input(z.object({ vmId }))
    .query(({ ctx, input }) => vmCurrentState(ctx.db, ctx.actor, input.vmId)),
  openAlertCount: protectedProcedure.meta({ scope: "metrics:read" }).query(({ ctx }) => openAlertCount(ctx.db, ctx.actor)),
  /** The phone status page (/status): host state, figures now, the actor's own VMs, open alerts. For sessions only (no token scope). */
  status: protectedProcedure.query(({ ctx }) => statusSummary(ctx.db, ctx.actor)),
  hostHistory: protectedProcedure
    .meta({ scope: "metrics:read" })
    .input(historyInput)
    .query(({ ctx, input }) => hostHistory(ctx.db, ctx.actor, input)),
  /** The history page's range when its URL names none. */
  hostDefaultRange: protectedProcedure.meta({ scope: "metrics:read" }).query(({ ctx }) => defaultHostRange(ctx.db)),
  vmHistory: protectedProcedure
    .meta({ scope: "metrics:read" })
    .input(historyInput.extend({ vmId }))
    .query(({ ctx, input }) => vmHistory(ctx.db, ctx.actor, input.vmId, input)),
  hostDevices: protectedProcedure
    .meta({ scope: "metrics:read" })
    .input(historyInput.omit({ metrics: true }))
    .query(({ ctx, input }) => hostDevices(ctx.db, ctx.actor, input)),
  deviceHistory: protectedProcedure
    .meta({ scope: "metrics:read" })
    .input(historyInput.extend({ source: deviceSource }))
    .query(({ ctx, input }) => deviceHistory(ctx.db, ctx.actor, input.source, input)),

  collectNow: auditedAdminProcedure.mutation(async ({ ctx }) => {
    const tick = await collectNow(ctx.db);
    ctx.audit({ targetType: "Metrics", targetId: null, after: { ts: tick.ts, written: tick.written, errors: tick.errors } });
    return tick;
  }),
  retentionNow: auditedAdminProcedure.mutation(async ({ ctx }) => {
    const result = await retentionNow(ctx.db);
    ctx.audit({ targetType: "Metrics", targetId: null, after: result });
    return result;
  }),
  health: adminProcedure.query(({ ctx }) => metricsHealth(ctx.db)),
  webhookDeliveries: adminProcedure.query(({ ctx }) => recentWebhookDeliveries(ctx.db)),
  rules: adminProcedure.query(({ ctx }) => listAlertRules(ctx.db)),
  createRule: auditedAdminProcedure.input(alertRuleInput).mutation(async ({ ctx, input }) => {
    const rule = await createAlertRule(ctx.db, ctx.actor, input);
    ctx.audit({ targetType: "AlertRule", targetId: rule.id, after: auditedRule(rule) });
    return rule;
  }),
  updateRule: auditedAdminProcedure.input(alertRuleInput.extend({ id: z.string().min(1).max(64) })).mutation(async ({ ctx, input: { id, ...input } }) => {
    const before = await getAlertRule(ctx.db, id);
    const rule = await updateAlertRule(ctx.db, ctx.actor, id, input);
    ctx.audit({ targetType: "AlertRule", targetId: id, before, after: { ...auditedRule(rule), ntfyToken: withoutToken(input).ntfyToken } });
    return rule;
  }),
  deleteRule: auditedAdminProcedure.input(z.object({ id: z.string().min(1).max(64) })).mutation(async ({ ctx, input }) => {
    const before = await getAlertRule(ctx.db, input.id);
    await deleteAlertRule(ctx.db, ctx.actor, input.id);
    ctx.audit({ targetType: "AlertRule", targetId: input.id, before, after: { deleted: true } });
  }),
  rotateWebhookSecret: auditedAdminProcedure.input(z.object({ id: z.string().min(1).max(64) })).mutation(async ({ ctx, input }) => {
    const result = await rotateWebhookSecret(ctx.db, ctx.actor, input.id);
    ctx.audit({ targetType: "AlertRule", targetId: input.id, after: { secretRotated: true } });
    return result;
  }),
});

/** A rule as the audit log keeps it: a secret shown once is noted, never copied. */
function auditedRule({ webhookSecret, ...rule }: { webhookSecret?: string } & Record<string, unknown>) {
  return { ...rule, secretIssued: Boolean(webhookSecret) };
}
