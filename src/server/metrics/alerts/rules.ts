// Alert rules: the defaults, validation and the admin edits, each of which
// asserts an admin itself (as adminProcedure does before it), and the
// notification channels: a webhook URL and an ntfy topic (with an optional
// access token, which never leaves the server). Both channels are signed with
// the rule's secret, which leaves the server only once: when made or rotated.
import { z } from "zod";
import type { AlertRule } from "../../../generated/prisma/sqlite/client";
import type { Db } from "../../db/client";
import { env } from "../../env";
import { DomainError, notFound } from "../../errors";
import { recordEvent } from "../../events/record";
import { normalizeIp } from "../../ip-ranges";
import { assertAdmin, type Actor } from "../../permissions";
import { isMetricName, METRICS, type MetricName, type SourceKind } from "../catalog";
import { newWebhookSecret, webhookAddressRefusal } from "./webhook";

export const COMPARISONS = ["gte", "lte"] as const;
export const SCOPES = ["host", "vms"] as const;
export type Comparison = (typeof COMPARISONS)[number];
export type Scope = (typeof SCOPES)[number];

export const alertRuleInput = z.object({
  name: z.string().trim().min(1).max(100),
  metric: z.string().max(64).refine(isMetricName, "unknown metric"),
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
  /** An ntfy topic URL, e.g. https://ntfy.sh/mytopic; absent means none. */
  ntfyUrl: z
    .url({ protocol: /^https?$/, message: "must be an http(s) URL" })
    .max(2000)
    .nullish(),
  /** The topic's access token: a string sets it, null removes it, absent keeps the one the rule has. */
  ntfyToken: z.string().trim().min(1).max(200).nullish(),
});
export type AlertRuleInput = z.infer<typeof alertRuleInput>;

const bad = (message: string) => new DomainError("BAD_REQUEST", message);

/** Checks what a schema cannot: the metric fits the scope, and the clear level lies on the right side. */
export function checkRule(rule: AlertRuleInput): void {
  const kind: SourceKind = rule.scope === "host" ? "host" : "vm";
  if (!(METRICS[rule.metric as MetricName].kinds as readonly SourceKind[]).includes(kind))
    throw bad(`"${rule.metric}" is not measured for ${rule.scope === "host" ? "the host" : "VMs"}.`);
  // Strictly apart: a clear level equal to the threshold would let a value hovering there open and resolve in turn.
  if (rule.comparison === "gte" && rule.clearThreshold >= rule.threshold)
    throw bad("The clear level must be below the threshold (the alert resolves once the value has stayed at or below it).");
  if (rule.comparison === "lte" && rule.clearThreshold <= rule.threshold)
    throw bad("The clear level must be above the threshold (the alert resolves once the value has stayed at or above it).");
  if (rule.webhookUrl) checkTarget("webhook URL", rule.webhookUrl);
  if (rule.ntfyUrl) {
    checkTarget("ntfy topic URL", rule.ntfyUrl);
    if (new URL(rule.ntfyUrl).pathname.replace(/\/+$/, "") === "") throw bad("The ntfy topic URL must name a topic, e.g. https://ntfy.sh/mytopic.");
  }
  if (rule.ntfyToken && !rule.ntfyUrl) throw bad("An ntfy access token needs an ntfy topic URL.");
}

/** Refuses now an address written in the URL that the settings refuse; a host name is checked on what it resolves to at each delivery. */
function checkTarget(label: string, url: string) {
  const host = new URL(url).hostname;
  const literal = host === "localhost" || host.endsWith(".localhost") ? "127.0.0.1" : normalizeIp(host);
  const why = literal && webhookAddressRefusal(literal, env().WEBHOOK_ALLOW_PRIVATE);
  if (why) throw bad(`The ${label} is not allowed: ${why}.`);
}

const hasChannel = (rule: { webhookUrl?: string | null; ntfyUrl?: string | null }) => Boolean(rule.webhookUrl || rule.ntfyUrl);

type DefaultRule = AlertRuleInput & { builtinKey: string };
const base = { comparison: "gte", durationS: 60, scope: "host", severity: "WARNING", enabled: true, webhookUrl: null, ntfyUrl: null } as const;
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

/** A rule as the admin pages see it: the signing secret never leaves the server after it was shown once, the ntfy token never. */
export type PublicAlertRule = Omit<AlertRule, "webhookSecret" | "ntfyToken"> & { hasWebhookSecret: boolean; hasNtfyToken: boolean };
function publicRule({ webhookSecret, ntfyToken, ...rule }: AlertRule): PublicAlertRule {
  return { ...rule, hasWebhookSecret: Boolean(webhookSecret), hasNtfyToken: Boolean(ntfyToken) };
}

/** One rule as the admin pages see it, or null. */
export async function getAlertRule(db: Db, id: string): Promise<PublicAlertRule | null> {
  const rule = await db.alertRule.findUnique({ where: { id } });
  return rule && publicRule(rule);
}

export async function listAlertRules(db: Db): Promise<PublicAlertRule[]> {
  return (await db.alertRule.findMany({ orderBy: [{ scope: "asc" }, { name: "asc" }] })).map(publicRule);
}

/** The input as events and the audit log may show it: whether a token was given, never the token. */
export function withoutToken<T extends { ntfyToken?: string | null }>({ ntfyToken, ...rest }: T) {
  return { ...rest, ntfyToken: ntfyToken === undefined ? "unchanged" : ntfyToken === null ? "none" : "set" };
}

async function audit(db: Db, actor: Actor, action: string, rule: { id: string; name: string }, details: Record<string, unknown>) {
  await recordEvent(db, {
    type: "admin",
    action,
    message: `${actor.email} ${action.split(".").at(-1)}d alert rule "${rule.name}".`,
    actorId: actor.id,
    actorEmail: actor.email,
    details: { ruleId: rule.id, ...details },
  });
}

/**
 * Creates a rule. With a channel (webhook or ntfy) it gets its signing secret,
 * returned here as `webhookSecret` and never again (rotate for a new one).
 */
export async function createAlertRule(db: Db, actor: Actor, input: AlertRuleInput): Promise<PublicAlertRule & { webhookSecret?: string }> {
  assertAdmin(actor);
  checkRule(input);
  const webhookSecret = hasChannel(input) ? newWebhookSecret() : null;
  const rule = await db.alertRule.create({ data: { ...input, ntfyUrl: input.ntfyUrl ?? null, ntfyToken: input.ntfyToken ?? null, webhookSecret } });
  await audit(db, actor, "alert_rule.create", rule, { rule: withoutToken(input) });
  return { ...publicRule(rule), ...(webhookSecret ? { webhookSecret } : {}) };
}

/**
 * Updates a rule. A rule given its first channel gets a secret, returned once
 * as `webhookSecret`; a rule left without channels loses its secret, and one
 * without an ntfy URL its ntfy token.
 */
export async function updateAlertRule(db: Db, actor: Actor, id: string, input: AlertRuleInput): Promise<PublicAlertRule & { webhookSecret?: string }> {
  assertAdmin(actor);
  checkRule(input);
  const existing = await db.alertRule.findUnique({ where: { id }, select: { id: true, webhookSecret: true, ntfyToken: true } });
  if (!existing) throw notFound("Alert rule");
  const webhookSecret = !hasChannel(input) ? null : (existing.webhookSecret ?? newWebhookSecret());
  const ntfyToken = !input.ntfyUrl ? null : input.ntfyToken === undefined ? existing.ntfyToken : input.ntfyToken;
  const rule = await db.alertRule.update({ where: { id }, data: { ...input, ntfyUrl: input.ntfyUrl ?? null, ntfyToken, webhookSecret } });
  await audit(db, actor, "alert_rule.update", rule, { rule: withoutToken(input) });
  const fresh = webhookSecret && webhookSecret !== existing.webhookSecret;
  return { ...publicRule(rule), ...(fresh ? { webhookSecret } : {}) };
}

/** A new signing secret for a rule's webhook, returned this once; deliveries from now on, retries included, are signed with it. */
export async function rotateWebhookSecret(db: Db, actor: Actor, id: string): Promise<{ id: string; webhookSecret: string }> {
  assertAdmin(actor);
  const existing = await db.alertRule.findUnique({ where: { id }, select: { id: true, name: true, webhookUrl: true, ntfyUrl: true } });
  if (!existing) throw notFound("Alert rule");
  if (!hasChannel(existing)) throw bad("This rule has no webhook or ntfy URL, so it has no secret to rotate.");
  const webhookSecret = newWebhookSecret();
  await db.alertRule.update({ where: { id }, data: { webhookSecret } });
  await recordEvent(db, {
    type: "admin",
    action: "alert_rule.rotate_secret",
    severity: "WARNING",
    message: `${actor.email} rotated the webhook secret of alert rule "${existing.name}".`,
    actorId: actor.id,
    actorEmail: actor.email,
    details: { ruleId: id },
  });
  return { id, webhookSecret };
}

/** Deletes a rule and its alert history. Defaults are disabled instead, so they are not seeded back. */
export async function deleteAlertRule(db: Db, actor: Actor, id: string) {
  assertAdmin(actor);
  const existing = await db.alertRule.findUnique({ where: { id }, select: { id: true, name: true, builtinKey: true } });
  if (!existing) throw notFound("Alert rule");
  if (existing.builtinKey) throw new DomainError("CONFLICT", "A default rule cannot be deleted; disable it instead.");
  await db.alertRule.delete({ where: { id } });
  await audit(db, actor, "alert_rule.delete", existing, {});
}

/** The latest deliveries (webhook and ntfy), for the admin page. */
export const recentWebhookDeliveries = (db: Db, take = 20) =>
  db.webhookDelivery.findMany({
    orderBy: { createdAt: "desc" },
    take,
    select: {
      id: true,
      channel: true,
      url: true,
      event: true,
      status: true,
      attempts: true,
      nextAttemptAt: true,
      lastStatus: true,
      lastError: true,
      createdAt: true,
      deliveredAt: true,
    },
  });
