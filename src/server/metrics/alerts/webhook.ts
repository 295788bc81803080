// Webhook notifications of alert transitions. The body is documented in
// docs/webhooks.md; keep the two in step. Each notification is a
// WebhookDelivery row whose status, attempts and last response record how the
// delivery went. Retries back off exponentially; a 4xx other than 408/429 means
// the receiver refuses this body, so it is not retried.
import type { Db } from "../../db/client";
import { METRICS, type MetricName } from "../catalog";
import { sourceKind, vmIdOf } from "../sources";

export const WEBHOOK_VERSION = 1;

export type AlertTransition = "alert.opened" | "alert.resolved";

export interface WebhookAlert {
  id: string;
  openedAt: Date;
  resolvedAt: Date | null;
  severity: string;
  source: string;
  openValue: number;
  peakValue: number;
  lastValue: number;
}

export interface WebhookRule {
  id: string;
  name: string;
  metric: string;
  comparison: string;
  threshold: number;
  clearThreshold: number;
  durationS: number;
}

export function webhookBody(event: AlertTransition, alert: WebhookAlert, rule: WebhookRule, deliveryId: string, sentAt: Date) {
  const def = METRICS[rule.metric as MetricName];
  return {
    version: WEBHOOK_VERSION,
    event,
    deliveryId,
    sentAt: sentAt.toISOString(),
    alert: {
      id: alert.id,
      status: alert.resolvedAt ? "resolved" : "open",
      severity: alert.severity.toLowerCase(),
      source: alert.source,
      sourceKind: sourceKind(alert.source),
      vmId: vmIdOf(alert.source),
      metric: rule.metric,
      metricLabel: def?.label ?? rule.metric,
      unit: def?.unit ?? null,
      value: alert.lastValue,
      openValue: alert.openValue,
      peakValue: alert.peakValue,
      openedAt: alert.openedAt.toISOString(),
      resolvedAt: alert.resolvedAt?.toISOString() ?? null,
    },
    rule: {
      id: rule.id,
      name: rule.name,
      comparison: rule.comparison,
      threshold: rule.threshold,
      clearThreshold: rule.clearThreshold,
      durationS: rule.durationS,
    },
  };
}

export interface DeliveryOptions {
  maxAttempts?: number;
  /** First retry delay; each further retry doubles it. */
  baseDelayMs?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref?.());
const retryable = (status: number) => status >= 500 || status === 408 || status === 429;

/**
 * Sends one delivery until it succeeds, is refused, or runs out of attempts,
 * recording every attempt's outcome on the row. Returns the final status.
 */
export async function deliverWebhook(db: Db, deliveryId: string, opts: DeliveryOptions = {}): Promise<"delivered" | "failed"> {
  const { maxAttempts = 5, baseDelayMs = 2000, timeoutMs = 10_000, fetch: doFetch = fetch, sleep = wait } = opts;
  const delivery = await db.webhookDelivery.findUniqueOrThrow({ where: { id: deliveryId } });
  const body = JSON.stringify(delivery.payload);
  for (let attempt = delivery.attempts + 1; attempt <= maxAttempts; attempt++) {
    let status: number | null = null;
    let error: string | null = null;
    try {
      const res = await doFetch(delivery.url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "TwargaCloud-Webhook/1", "x-twarga-event": delivery.event, "x-twarga-delivery": delivery.id },
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = res.status;
      await res.body?.cancel().catch(() => {});
      if (!res.ok) error = `HTTP ${res.status}`;
    } catch (err) {
      error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
    const ok = status !== null && status >= 200 && status < 300;
    const final = ok || (status !== null && !retryable(status)) || attempt === maxAttempts;
    await db.webhookDelivery.update({
      where: { id: deliveryId },
      data: {
        attempts: attempt,
        lastStatus: status,
        lastError: error?.slice(0, 500) ?? null,
        status: ok ? "delivered" : final ? "failed" : "pending",
        deliveredAt: ok ? new Date() : null,
      },
    });
    if (ok) return "delivered";
    if (final) return "failed";
    await sleep(baseDelayMs * 2 ** (attempt - 1));
  }
  return "failed";
}
