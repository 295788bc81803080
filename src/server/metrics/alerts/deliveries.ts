// Alert notifications that survive a restart. An alert opening or resolving
// becomes one WebhookDelivery row per channel its rule has (a webhook URL, an
// ntfy topic), written with the body it will send. The evaluator sends them at
// once (deliverWebhook); the background process's delivery worker sends every
// row that is still pending when its next attempt is due, so a delivery that a
// stopped process left behind, or a retry it was waiting for, goes out after
// the restart. Claims on the rows (./webhook.ts attemptDelivery) keep two
// senders off the same row.
import { randomUUID } from "node:crypto";
import type { Db } from "../../db/client";
import { ntfyMessage } from "./ntfy";
import { attemptDelivery, webhookBody, type AlertTransition, type DeliveryOptions, type WebhookAlert, type WebhookRule } from "./webhook";

export const CHANNELS = ["webhook", "ntfy"] as const;
export type Channel = (typeof CHANNELS)[number];

type NotifiedRule = WebhookRule & { webhookUrl: string | null; ntfyUrl: string | null };

/** Writes the deliveries of one alert transition, one per channel of the rule, and returns their ids (none for a rule without channels). */
export async function enqueueAlertNotifications(db: Db, rule: NotifiedRule, alert: WebhookAlert, event: AlertTransition, now: Date): Promise<string[]> {
  const rows: { id: string; channel: Channel; url: string; payload: object }[] = [];
  if (rule.webhookUrl) {
    const id = randomUUID();
    rows.push({ id, channel: "webhook", url: rule.webhookUrl, payload: webhookBody(event, alert, rule, id, now) });
  }
  if (rule.ntfyUrl) rows.push({ id: randomUUID(), channel: "ntfy", url: rule.ntfyUrl, payload: { ...ntfyMessage(event, alert, rule) } });
  for (const row of rows) {
    await db.webhookDelivery.create({ data: { ...row, alertId: alert.id, event, status: "pending", nextAttemptAt: now } });
  }
  return rows.map((r) => r.id);
}

export interface DeliveryWorkerOptions extends DeliveryOptions {
  /** How often the worker looks for due deliveries (ms). */
  pollMs?: number;
  /** Deliveries sent at once, at most. */
  batchSize?: number;
}

/** Sends every pending delivery whose next attempt is due and that no other sender holds; returns how many attempts it made. */
export async function deliverDue(db: Db, opts: DeliveryWorkerOptions = {}): Promise<number> {
  const now = new Date();
  const due = await db.webhookDelivery.findMany({
    where: { status: "pending", nextAttemptAt: { lte: now }, OR: [{ claimedUntil: null }, { claimedUntil: { lt: now } }] },
    orderBy: { nextAttemptAt: "asc" },
    take: opts.batchSize ?? 20,
    select: { id: true },
  });
  const results = await Promise.all(
    due.map((d) =>
      attemptDelivery(db, d.id, { ...opts, dueOnly: true }).catch((err: unknown) => {
        console.error(`[alerts] delivery ${d.id} failed:`, err);
        return { outcome: "busy" as const };
      }),
    ),
  );
  return results.filter((r) => r.outcome !== "busy").length;
}

/** The background delivery worker: sends due deliveries now and then every pollMs, until stopped. */
export function startDeliveries(db: Db, opts: DeliveryWorkerOptions = {}): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    if (stopped) return;
    running = deliverDue(db, opts)
      .catch((err) => console.error("[alerts] delivery worker failed:", err))
      .finally(() => {
        if (!stopped) (timer = setTimeout(loop, opts.pollMs ?? 5000)).unref?.();
      });
  };
  loop();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
