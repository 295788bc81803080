// The ntfy push channel: an alert opening or resolving reaches a phone through
// an ntfy topic (https://ntfy.sh/<topic> or a self-hosted server) without the
// app being open. The request is ntfy's plain publish format: POST to the
// topic URL with the message text as the body and the Title, Priority and Tags
// headers; a protected topic gets "Authorization: Bearer <access token>".
// Sending, signing and the address rules are the webhook's (./webhook.ts).
import { METRICS, type MetricName } from "../catalog";
import { formatMetric } from "../format";
import { HOST_SOURCE, sourceKind, vmIdOf } from "../sources";
import type { AlertTransition, WebhookAlert, WebhookRule } from "./webhook";

/** What is pushed: stored on the delivery row when the transition happens, so a retry sends the same message. */
export interface NtfyMessage {
  title: string;
  message: string;
  /** ntfy's 1 (min) to 5 (max/urgent); 3 is its default. */
  priority: 1 | 2 | 3 | 4 | 5;
  /** Emoji short codes (shown as emojis by ntfy) and plain tags. */
  tags: string[];
}

function where(source: string): string {
  if (source === HOST_SOURCE) return "the host";
  return sourceKind(source) === "vm" ? `VM ${vmIdOf(source)}` : source;
}

/** The push for one transition: urgent for a critical alert opening, high for a warning, default for a resolution. */
export function ntfyMessage(event: AlertTransition, alert: WebhookAlert, rule: WebhookRule): NtfyMessage {
  const metric = rule.metric as MetricName;
  const label = METRICS[metric]?.label ?? rule.metric;
  const value = (v: number) => (METRICS[metric] ? formatMetric(metric, v) : String(v));
  const op = rule.comparison === "lte" ? "≤" : "≥";
  const critical = alert.severity.toUpperCase() === "CRITICAL";
  if (event === "alert.opened") {
    return {
      title: `${critical ? "Critical" : "Warning"}: ${rule.name}`,
      message: `${label} ${op} ${value(rule.threshold)} on ${where(alert.source)} for ${rule.durationS} s (now ${value(alert.lastValue)}).`,
      priority: critical ? 5 : 4,
      tags: [critical ? "rotating_light" : "warning", alert.severity.toLowerCase(), rule.metric],
    };
  }
  return {
    title: `Resolved: ${rule.name}`,
    message: `${label} on ${where(alert.source)} is back (now ${value(alert.lastValue)}, peak ${value(alert.peakValue)}).`,
    priority: 3,
    tags: ["white_check_mark", "resolved", rule.metric],
  };
}

/**
 * A header value as ntfy reads it: as is when it is printable ASCII, else an
 * RFC 2047 encoded word (=?UTF-8?B?…?=), which ntfy decodes; HTTP header values
 * cannot carry UTF-8 text such as "≥" or an emoji themselves.
 */
export function headerText(text: string): string {
  const oneLine = text.replace(/[\r\n]+/g, " ");
  return /^[\x20-\x7e]*$/.test(oneLine) ? oneLine : `=?UTF-8?B?${Buffer.from(oneLine, "utf8").toString("base64")}?=`;
}

/** The ntfy request for a stored message: its headers and body. */
export function ntfyRequest(message: NtfyMessage, accessToken: string | null): { headers: Record<string, string>; body: string } {
  return {
    headers: {
      "content-type": "text/plain; charset=utf-8",
      title: headerText(message.title),
      priority: String(message.priority),
      tags: message.tags.map((t) => t.replace(/[^\w+-]/g, "")).join(","),
      ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
    },
    body: message.message,
  };
}
