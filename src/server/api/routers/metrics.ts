// Monitoring procedures: thin adapters over src/server/metrics.
import { z } from "zod";
import { adminProcedure, createTRPCRouter, protectedProcedure } from "../trpc";
import {
  alertRuleInput,
  createAlertRule,
  deleteAlertRule,
  listAlertRules,
  recentWebhookDeliveries,
  rotateWebhookSecret,
  updateAlertRule,
} from "../../metrics/alerts/rules";
import { currentState, openAlertCount, vmCurrentState } from "../../metrics/current";
import { metricsHealth } from "../../metrics/sampler-health";
import { defaultHostRange } from "../../metrics/default-range";
import { deviceHistory, hostDevices, hostHistory, MAX_METRICS, RANGE_KEYS, vmHistory } from "../../metrics/history";
import { collectNow, retentionNow } from "../../metrics/sampler";

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
  current: protectedProcedure.query(({ ctx }) => currentState(ctx.db, ctx.actor)),
  vmCurrent: protectedProcedure.input(z.object({ vmId })).query(({ ctx, input }) => vmCurrentState(ctx.db, ctx.actor, input.vmId)),
  openAlertCount: protectedProcedure.query(({ ctx }) => openAlertCount(ctx.db, ctx.actor)),
  hostHistory: protectedProcedure.input(historyInput).query(({ ctx, input }) => hostHistory(ctx.db, ctx.actor, input)),
  /** The history page's range when its URL names none. */
  hostDefaultRange: protectedProcedure.query(({ ctx }) => defaultHostRange(ctx.db)),
  vmHistory: protectedProcedure.input(historyInput.extend({ vmId })).query(({ ctx, input }) => vmHistory(ctx.db, ctx.actor, input.vmId, input)),
  hostDevices: protectedProcedure.input(historyInput.omit({ metrics: true })).query(({ ctx, input }) => hostDevices(ctx.db, ctx.actor, input)),
  deviceHistory: protectedProcedure
    .input(historyInput.extend({ source: deviceSource }))
    .query(({ ctx, input }) => deviceHistory(ctx.db, ctx.actor, input.source, input)),

  collectNow: adminProcedure.mutation(({ ctx }) => collectNow(ctx.db)),
  retentionNow: adminProcedure.mutation(({ ctx }) => retentionNow(ctx.db)),
  health: adminProcedure.query(({ ctx }) => metricsHealth(ctx.db)),
  webhookDeliveries: adminProcedure.query(({ ctx }) => recentWebhookDeliveries(ctx.db)),
  rules: adminProcedure.query(({ ctx }) => listAlertRules(ctx.db)),
  createRule: adminProcedure.input(alertRuleInput).mutation(({ ctx, input }) => createAlertRule(ctx.db, ctx.actor, input)),
  updateRule: adminProcedure
    .input(alertRuleInput.extend({ id: z.string().min(1) }))
    .mutation(({ ctx, input: { id, ...rule } }) => updateAlertRule(ctx.db, ctx.actor, id, rule)),
  deleteRule: adminProcedure.input(z.object({ id: z.string().min(1) })).mutation(({ ctx, input }) => deleteAlertRule(ctx.db, ctx.actor, input.id)),
  rotateWebhookSecret: adminProcedure
    .input(z.object({ id: z.string().min(1).max(64) }))
    .mutation(({ ctx, input }) => rotateWebhookSecret(ctx.db, ctx.actor, input.id)),
});
