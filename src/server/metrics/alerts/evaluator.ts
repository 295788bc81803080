// Alert evaluation, once per sampler tick with that tick's readings.
//
// Per rule and source: a value past the threshold starts a pending period; if
// it stays past for the rule's duration the alert opens (one AlertInstance, one
// Event, one webhook). It then stays open, without repeating, until the value
// has stayed back past the clear level (strictly on the other side of the
// threshold: hysteresis) for the same duration, the rule is disabled, or the
// source has reported nothing for STALE_MS (a VM that was stopped); then it
// resolves (again one Event, one webhook). The same hold both ways means one
// noisy reading can neither open nor resolve an alert. Open alerts are reloaded
// from the database on the first tick, so a restart neither repeats nor forgets
// them (a hold toward resolving starts over after a restart).
//
// One evaluator runs per host: it lives in the ticks of the host's sampler,
// which only the process holding the sampler lease runs (metrics/service.ts).
// A process taking over reloads the open alerts the same way, and before
// opening one checks the database again, so a handover in the middle of a
// hold cannot open the same alert twice.
import type { AlertInstance, AlertRule } from "../../../generated/prisma/sqlite/client";
import type { Db } from "../../db/client";
import { recordEvent } from "../../events/record";
import { formatMetric } from "../format";
import { METRICS, type MetricName } from "../catalog";
import type { Reading } from "../collectors/types";
import { HOST_SOURCE, sourceKind, vmIdOf } from "../sources";
import { deliverWebhook, type AlertTransition } from "./webhook";
import { enqueueAlertNotifications } from "./deliveries";

/** An open alert whose source sent nothing for this long is resolved. */
export const STALE_MS = 5 * 60_000;

export interface AlertEvaluatorOptions {
  /** Sends a recorded webhook delivery; defaults to deliverWebhook with retries. */
  deliver?: (db: Db, deliveryId: string) => Promise<unknown>;
}

export interface EvaluationResult {
  opened: string[];
  resolved: string[];
}

const keyOf = (ruleId: string, source: string) => `${ruleId}|${source}`;
const breaches = (rule: AlertRule, v: number) => (rule.comparison === "lte" ? v <= rule.threshold : v >= rule.threshold);
const clears = (rule: AlertRule, v: number) => (rule.comparison === "lte" ? v >= rule.clearThreshold : v <= rule.clearThreshold);
const worse = (rule: AlertRule, a: number, b: number) => (rule.comparison === "lte" ? Math.min(a, b) : Math.max(a, b));

function describe(rule: AlertRule, source: string, value: number, state: "open" | "resolved", why?: string): string {
  const metric = rule.metric as MetricName;
  const where = source === HOST_SOURCE ? "the host" : sourceKind(source) === "vm" ? `VM ${vmIdOf(source)}` : source;
  const op = rule.comparison === "lte" ? "≤" : "≥";
  if (state === "open")
    return `${rule.name}: ${METRICS[metric].label} ${op} ${formatMetric(metric, rule.threshold)} on ${where} for ${rule.durationS} s (now ${formatMetric(metric, value)}).`;
  return `Resolved: ${rule.name} on ${where} (${why ?? `now ${formatMetric(metric, value)}`}).`;
}

export class AlertEvaluator {
  private pendingSince = new Map<string, number>();
  /** Open alerts whose value is back past the clear level: since when, without a break. */
  private clearingSince = new Map<string, number>();
  private open: Map<string, AlertInstance> | null = null;
  private lastSeen = new Map<string, number>();
  private deliveries = new Set<Promise<unknown>>();
  private readonly deliver: (db: Db, deliveryId: string) => Promise<unknown>;

  constructor(opts: AlertEvaluatorOptions = {}) {
    this.deliver = opts.deliver ?? ((db, id) => deliverWebhook(db, id));
  }

  /** Resolves when the webhook deliveries started so far have finished. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.deliveries]);
  }

  async evaluate(db: Db, readings: readonly Reading[], nowMs: number): Promise<EvaluationResult> {
    const result: EvaluationResult = { opened: [], resolved: [] };
    const now = new Date(nowMs);
    if (!this.open) {
      const rows = await db.alertInstance.findMany({ where: { resolvedAt: null } });
      this.open = new Map(rows.map((a) => [keyOf(a.ruleId, a.source), a]));
      for (const a of rows) this.lastSeen.set(a.source, nowMs);
    }
    for (const r of readings) this.lastSeen.set(r.source, nowMs);
    const rules = await db.alertRule.findMany();
    const rulesById = new Map(rules.map((r) => [r.id, r]));

    for (const rule of rules) {
      if (!rule.enabled) continue;
      const metric = rule.metric as MetricName;
      for (const reading of readings) {
        const kind = sourceKind(reading.source);
        if (rule.scope === "host" ? kind !== "host" : kind !== "vm") continue;
        const value = reading.values[metric];
        const key = keyOf(rule.id, reading.source);
        const openAlert = this.open.get(key);
        if (typeof value !== "number" || !Number.isFinite(value)) {
          // A missing reading interrupts either hold.
          this.pendingSince.delete(key);
          this.clearingSince.delete(key);
          continue;
        }
        if (openAlert) {
          if (clears(rule, value)) {
            const since = this.clearingSince.get(key) ?? nowMs;
            this.clearingSince.set(key, since);
            if (nowMs - since >= rule.durationS * 1000) {
              await this.resolve(db, rule, openAlert, value, now);
              result.resolved.push(openAlert.id);
              continue;
            }
          } else this.clearingSince.delete(key);
          const updated = await db.alertInstance.update({
            where: { id: openAlert.id },
            data: { lastValue: value, peakValue: worse(rule, openAlert.peakValue, value) },
          });
          this.open.set(key, updated);
          continue;
        }
        if (!breaches(rule, value)) {
          this.pendingSince.delete(key);
          continue;
        }
        const since = this.pendingSince.get(key) ?? nowMs;
        this.pendingSince.set(key, since);
        if (nowMs - since >= rule.durationS * 1000) {
          const alert = await this.openAlert(db, rule, reading.source, value, now);
          this.pendingSince.delete(key);
          if (alert) result.opened.push(alert.id);
        }
      }
    }

    // Open alerts whose rule is gone or disabled, or whose source went quiet.
    for (const [key, alert] of this.open) {
      const rule = rulesById.get(alert.ruleId);
      if (!rule) {
        this.open.delete(key); // deleted with its rule
        continue;
      }
      const quiet = nowMs - (this.lastSeen.get(alert.source) ?? nowMs) >= Math.max(STALE_MS, rule.durationS * 1000);
      if (!rule.enabled || quiet) {
        await this.resolve(db, rule, alert, alert.lastValue, now, !rule.enabled ? "rule disabled" : "no data from the source");
        result.resolved.push(alert.id);
      }
    }
    return result;
  }

  /** Opens the alert, or adopts (and returns null for) one that another sampler process opened meanwhile. */
  private async openAlert(db: Db, rule: AlertRule, source: string, value: number, now: Date): Promise<AlertInstance | null> {
    const already = await db.alertInstance.findFirst({ where: { ruleId: rule.id, source, resolvedAt: null } });
    if (already) {
      this.open!.set(keyOf(rule.id, source), already);
      return null;
    }
    const alert = await db.alertInstance.create({
      data: { ruleId: rule.id, source, severity: rule.severity, openedAt: now, openValue: value, peakValue: value, lastValue: value },
    });
    this.open!.set(keyOf(rule.id, source), alert);
    await recordEvent(db, {
      type: "alert",
      action: "alert.open",
      severity: rule.severity,
      message: describe(rule, source, value, "open"),
      targetVmId: vmIdOf(source),
      details: { alertId: alert.id, ruleId: rule.id, source, metric: rule.metric, value, threshold: rule.threshold, durationS: rule.durationS },
      at: now,
    });
    await this.notify(db, rule, alert, "alert.opened", now);
    return alert;
  }

  private async resolve(db: Db, rule: AlertRule, alert: AlertInstance, value: number, now: Date, why?: string): Promise<void> {
    const resolved = await db.alertInstance.update({ where: { id: alert.id }, data: { resolvedAt: now, lastValue: value } });
    this.open!.delete(keyOf(alert.ruleId, alert.source));
    this.clearingSince.delete(keyOf(alert.ruleId, alert.source));
    await recordEvent(db, {
      type: "alert",
      action: "alert.resolve",
      severity: alert.severity,
      message: describe(rule, alert.source, value, "resolved", why),
      targetVmId: vmIdOf(alert.source),
      details: {
        alertId: alert.id,
        ruleId: rule.id,
        source: alert.source,
        metric: rule.metric,
        value,
        clearThreshold: rule.clearThreshold,
        reason: why ?? "cleared",
      },
      at: now,
    });
    await this.notify(db, rule, resolved, "alert.resolved", now);
  }

  private async notify(db: Db, rule: AlertRule, alert: AlertInstance, event: AlertTransition, now: Date): Promise<void> {
    // One row per channel (webhook, ntfy), written with its body; what is still pending after a restart is sent by the delivery worker (deliveries.ts).
    for (const id of await enqueueAlertNotifications(db, rule, alert, event, now)) {
      // Delivery retries for a while: it runs beside the sampler, not inside the tick.
      const sending = this.deliver(db, id)
        .catch((err: unknown) => console.error(`[alerts] delivery ${id} failed:`, err))
        .finally(() => this.deliveries.delete(sending));
      this.deliveries.add(sending);
    }
  }
}
