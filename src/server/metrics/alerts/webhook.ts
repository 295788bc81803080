// Webhook notifications of alert transitions, and the sending of every
// notification channel (webhook and ntfy push). The body and the signature are
// documented in docs/webhooks.md; keep the two in step. Each notification is a
// WebhookDelivery row whose status, attempts, next attempt and last response
// record how the delivery went. Retries back off exponentially; a 4xx other
// than 408/429 means the receiver refuses this body, so it is not retried.
//
// Every attempt is signed the Standard Webhooks way (webhook-id,
// webhook-timestamp, webhook-signature: "v1,<base64 HMAC-SHA256 of
// id.timestamp.body>") with its rule's secret, and is sent only to an address
// the settings allow, checked on the address the connection actually uses.
import { createHmac, randomBytes } from "node:crypto";
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import type { Db } from "../../db/client";
import { env } from "../../env";
import { blockListOf, inBlockList, NAMED_RANGES, normalizeIp, parseRange, type IpRange } from "../../ip-ranges";
import { METRICS, type MetricName } from "../catalog";
import { sourceKind, vmIdOf } from "../sources";
import { ntfyRequest, type NtfyMessage } from "./ntfy";

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

const SECRET_PREFIX = "whsec_";

/** A new signing secret: "whsec_" and 32 random bytes in base64, as Standard Webhooks libraries expect. */
export function newWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString("base64")}`;
}

/** The webhook-signature value for one attempt: "v1,<base64 HMAC-SHA256 of `${id}.${timestamp}.${body}`>" keyed by the secret's bytes. */
export function signWebhook(secret: string, id: string, timestampS: number, body: string): string {
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, "base64");
  return `v1,${createHmac("sha256", key).update(`${id}.${timestampS}.${body}`).digest("base64")}`;
}

const range = (...texts: string[]): IpRange[] => texts.map((t) => parseRange(t)!);
/** Never a webhook target: link-local (the 169.254.169.254 metadata service among them), unspecified, multicast, broadcast, AWS's IPv6 metadata. */
const ALWAYS_REFUSED = blockListOf([...NAMED_RANGES.linklocal!, ...range("0.0.0.0/8", "::", "224.0.0.0/4", "255.255.255.255", "ff00::/8", "fd00:ec2::254")]);
/** Allowed only with WEBHOOK_ALLOW_PRIVATE: loopback, RFC 1918, unique-local IPv6 and carrier-grade NAT. */
const PRIVATE = blockListOf([...NAMED_RANGES.loopback!, ...NAMED_RANGES.uniquelocal!, ...range("100.64.0.0/10")]);

/** Why a webhook may not be sent to this address, or null when it may. */
export function webhookAddressRefusal(address: string, allowPrivate: boolean): string | null {
  const ip = normalizeIp(address);
  if (!ip) return `${address} is not an IP address`;
  if (inBlockList(ALWAYS_REFUSED, ip)) return `${ip} is a link-local, metadata, unspecified or multicast address`;
  if (!allowPrivate && inBlockList(PRIVATE, ip)) return `${ip} is a loopback or private address (set WEBHOOK_ALLOW_PRIVATE=true to allow private receivers)`;
  return null;
}

/** A target the settings refuse: final, not retried. */
export class WebhookAddressError extends Error {
  override name = "WebhookAddressError";
}

/** DNS resolution that fails when any address the name resolves to is refused, so the connection can only use an allowed one. */
function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, "", 0);
      const list = addresses as unknown as LookupAddress[];
      for (const a of list) {
        const why = webhookAddressRefusal(a.address, allowPrivate);
        if (why) return callback(new WebhookAddressError(`refused: ${hostname} resolves to ${why}`), "", 0);
      }
      if (list.length === 0) return callback(new Error(`${hostname} has no address`), "", 0);
      if (options.all) (callback as unknown as (e: null, all: LookupAddress[]) => void)(null, list);
      else callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

/** POSTs the body once and answers the HTTP status. No redirect is followed. */
function post(url: string, headers: Record<string, string>, body: string, timeoutMs: number, allowPrivate: boolean): Promise<number> {
  const u = new URL(url);
  if (u.protocol !== "http:" && u.protocol !== "https:") return Promise.reject(new WebhookAddressError(`refused: ${u.protocol} is not http(s)`));
  const literal = normalizeIp(u.hostname);
  if (literal) {
    const why = webhookAddressRefusal(literal, allowPrivate);
    if (why) return Promise.reject(new WebhookAddressError(`refused: ${why}`));
  }
  const client = u.protocol === "https:" ? https : http;
  return new Promise<number>((resolve, reject) => {
    const req = client.request(
      u,
      {
        method: "POST",
        headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
        lookup: guardedLookup(allowPrivate),
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        res.resume(); // the receiver's answer body is not read
        res.on("error", () => {});
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

export interface DeliveryOptions {
  maxAttempts?: number;
  /** First retry delay; each further retry doubles it. */
  baseDelayMs?: number;
  timeoutMs?: number;
  /** Whether private and loopback receivers are allowed; defaults to WEBHOOK_ALLOW_PRIVATE. */
  allowPrivate?: boolean;
  /** The clock for webhook-timestamp (ms); defaults to Date.now. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref?.());
const retryable = (status: number) => status >= 500 || status === 408 || status === 429;

/**
 * The rule's signing secret, made now if the rule has none yet (a rule whose
 * URL was set before rules had secrets): an admin rotates it to see it.
 */
async function secretFor(db: Db, ruleId: string): Promise<string> {
  const rule = await db.alertRule.findUniqueOrThrow({ where: { id: ruleId }, select: { webhookSecret: true } });
  if (rule.webhookSecret) return rule.webhookSecret;
  const secret = newWebhookSecret();
  const { count } = await db.alertRule.updateMany({ where: { id: ruleId, webhookSecret: null }, data: { webhookSecret: secret } });
  if (count === 1) return secret;
  return (await db.alertRule.findUniqueOrThrow({ where: { id: ruleId }, select: { webhookSecret: true } })).webhookSecret!;
}

/** What one attempt did: delivered, failed for good, pending (a retry is due at nextAttemptAt), or busy (not due, not pending, or another sender holds it). */
export type AttemptOutcome = { outcome: "delivered" | "failed" | "busy" } | { outcome: "pending"; nextAttemptAt: Date; delayMs: number };

/** How long a claim keeps other senders off a delivery: past it, the sender is taken to have died and another one resends. */
const claimMs = (timeoutMs: number) => timeoutMs + 5000;

/**
 * One attempt at a delivery row, whatever its channel ("webhook": the JSON
 * body of docs/webhooks.md; "ntfy": the push of ./ntfy.ts). The attempt claims
 * the row first (pending, not held by another sender, and with `dueOnly` due),
 * so two processes never send it at once; it then records the outcome and,
 * for a retryable failure, when the next attempt is due. A process that dies
 * mid-attempt leaves a claim that lapses, and the delivery is sent again with
 * the same webhook-id (receivers de-duplicate on it).
 */
export async function attemptDelivery(db: Db, deliveryId: string, opts: DeliveryOptions & { dueOnly?: boolean } = {}): Promise<AttemptOutcome> {
  const { maxAttempts = 5, baseDelayMs = 2000, timeoutMs = 10_000, allowPrivate = env().WEBHOOK_ALLOW_PRIVATE, now = Date.now } = opts;
  const claimedAt = new Date();
  const { count } = await db.webhookDelivery.updateMany({
    where: {
      id: deliveryId,
      status: "pending",
      ...(opts.dueOnly ? { nextAttemptAt: { lte: claimedAt } } : {}),
      OR: [{ claimedUntil: null }, { claimedUntil: { lt: claimedAt } }],
    },
    data: { claimedUntil: new Date(claimedAt.getTime() + claimMs(timeoutMs)) },
  });
  if (count !== 1) return { outcome: "busy" };
  const delivery = await db.webhookDelivery.findUniqueOrThrow({ where: { id: deliveryId }, include: { alert: { include: { rule: true } } } });
  const rule = delivery.alert.rule;
  const attempt = delivery.attempts + 1;
  let status: number | null = null;
  let error: string | null = null;
  let refused = false;
  try {
    // Read per attempt: a rotation applies to the retries that follow it.
    const secret = await secretFor(db, rule.id);
    const timestamp = Math.floor(now() / 1000);
    const { headers, body } = await requestOf(db, delivery, rule);
    status = await post(
      delivery.url,
      {
        ...headers,
        "user-agent": "TwargaCloud-Webhook/1",
        "webhook-id": delivery.id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signWebhook(secret, delivery.id, timestamp, body),
      },
      body,
      timeoutMs,
      allowPrivate,
    );
    if (status < 200 || status >= 300) error = `HTTP ${status}`;
  } catch (err) {
    refused = err instanceof WebhookAddressError || (err as { cause?: unknown })?.cause instanceof WebhookAddressError;
    error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  }
  const ok = status !== null && status >= 200 && status < 300;
  const final = ok || refused || (status !== null && !retryable(status)) || attempt >= maxAttempts;
  const delayMs = baseDelayMs * 2 ** (attempt - 1);
  const nextAttemptAt = new Date(Date.now() + delayMs);
  await db.webhookDelivery.update({
    where: { id: deliveryId },
    data: {
      attempts: attempt,
      lastStatus: status,
      lastError: error?.slice(0, 500) ?? null,
      status: ok ? "delivered" : final ? "failed" : "pending",
      deliveredAt: ok ? new Date() : null,
      claimedUntil: null,
      ...(final ? {} : { nextAttemptAt }),
    },
  });
  if (ok) return { outcome: "delivered" };
  if (final) return { outcome: "failed" };
  return { outcome: "pending", nextAttemptAt, delayMs };
}

type DeliveryRow = { id: string; channel: string; event: string; payload: unknown; alert: WebhookAlert };

/** The headers and body a delivery sends on its channel. */
async function requestOf(db: Db, delivery: DeliveryRow, rule: WebhookRule & { ntfyToken: string | null }) {
  if (delivery.channel === "ntfy") return ntfyRequest(delivery.payload as NtfyMessage, rule.ntfyToken);
  let payload = delivery.payload as { version?: number };
  if (payload?.version === undefined) {
    // A row written before its body (the body names the row's id): build it now, once.
    payload = webhookBody(delivery.event as AlertTransition, delivery.alert, rule, delivery.id, new Date());
    await db.webhookDelivery.update({ where: { id: delivery.id }, data: { payload } });
  }
  return {
    headers: { "content-type": "application/json", "x-twarga-event": delivery.event, "x-twarga-delivery": delivery.id },
    body: JSON.stringify(payload),
  };
}

/**
 * Sends one delivery row (webhook or ntfy) until it succeeds, is refused, or
 * runs out of attempts, waiting between attempts in this process. Every
 * attempt is recorded with its next due time, so when this process stops in
 * between, the background process's delivery worker (./deliveries.ts) resumes
 * it; "pending" means another sender holds it now.
 */
export async function deliverWebhook(db: Db, deliveryId: string, opts: DeliveryOptions = {}): Promise<"delivered" | "failed" | "pending"> {
  const sleep = opts.sleep ?? wait;
  for (;;) {
    const result = await attemptDelivery(db, deliveryId, opts);
    if (result.outcome !== "pending") {
      if (result.outcome !== "busy") return result.outcome;
      const row = await db.webhookDelivery.findUnique({ where: { id: deliveryId }, select: { status: true } });
      return row?.status === "delivered" ? "delivered" : row?.status === "failed" ? "failed" : "pending";
    }
    await sleep(result.delayMs);
  }
}
