// A stand-in ntfy server (https://docs.ntfy.sh/publish/) on 127.0.0.1 that
// speaks ntfy's HTTP format, for tests of the ntfy push channel:
// - publish: POST or PUT /<topic> with the message as the body; the title,
//   priority and tags from the X-Title/Title/t, X-Priority/Priority/prio/p and
//   X-Tags/Tags/tag/ta headers or query parameters, RFC 2047 encoded words
//   decoded as ntfy does; priority 1–5 or min/low/default/high/max/urgent,
//   anything else is refused with ntfy's 400 error body; answered with the
//   message as JSON, the way ntfy answers;
// - protected topics: "Authorization: Bearer <token>" required; none is 403,
//   a wrong one 401, with ntfy's error bodies;
// - subscribe: GET /<topic>/json?poll=1 lists the cached messages, one JSON
//   object per line.
// failNext(status, n) answers the next n publishes with that status instead.
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface NtfyMessage {
  id: string;
  time: number;
  expires: number;
  event: "message";
  topic: string;
  title?: string;
  message: string;
  priority?: number;
  tags?: string[];
}

export interface NtfyPublish {
  topic: string;
  method: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  status: number;
}

const TOPIC = /^[-_A-Za-z0-9]{1,64}$/;
const PRIORITIES: Record<string, number> = { "1": 1, "2": 2, "3": 3, "4": 4, "5": 5, min: 1, low: 2, default: 3, high: 4, max: 5, urgent: 5 };

/** RFC 2047 encoded words (=?charset?B|Q?text?=), as Go's mime.WordDecoder in ntfy decodes them. */
function decodeWords(value: string): string {
  return value.replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=/g, (_all, charset: string, enc: string, text: string) => {
    const bytes =
      enc.toUpperCase() === "B"
        ? Buffer.from(text, "base64")
        : Buffer.from(
            text.replace(/_/g, " ").replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
            "latin1",
          );
    return new TextDecoder(charset.toLowerCase() === "utf-8" ? "utf-8" : "latin1").decode(bytes);
  });
}

function param(req: http.IncomingMessage, query: URLSearchParams, ...names: string[]): string {
  for (const n of names) {
    const h = req.headers[n];
    if (typeof h === "string" && h !== "") return decodeWords(h);
  }
  for (const n of names) {
    const q = query.get(n);
    if (q) return q;
  }
  return "";
}

const error = (res: http.ServerResponse, status: number, code: number, text: string) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(`${JSON.stringify({ code, http: status, error: text, link: "https://ntfy.sh/docs/publish/" })}\n`);
};

export async function startNtfyServer(opts: { tokens?: Record<string, string> } = {}) {
  const messages: NtfyMessage[] = [];
  const publishes: NtfyPublish[] = [];
  let failures: { status: number; left: number } | null = null;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const u = new URL(req.url ?? "/", "http://stand-in");
      const body = Buffer.concat(chunks).toString("utf8");
      const parts = u.pathname.split("/").filter(Boolean);
      const topic = parts[0] ?? "";
      if (req.method === "GET" && parts.length === 2 && parts[1] === "json" && TOPIC.test(topic)) {
        res.writeHead(200, { "content-type": "application/x-ndjson; charset=utf-8" });
        res.end(
          messages
            .filter((m) => m.topic === topic)
            .map((m) => `${JSON.stringify(m)}\n`)
            .join(""),
        );
        return;
      }
      if ((req.method !== "POST" && req.method !== "PUT") || parts.length !== 1 || !TOPIC.test(topic)) return error(res, 404, 40401, "page not found");
      const record = (status: number) => publishes.push({ topic, method: req.method!, headers: req.headers, body, status });
      const token = opts.tokens?.[topic];
      if (token) {
        const auth = req.headers.authorization;
        if (!auth) return (record(403), error(res, 403, 40301, "forbidden"));
        if (auth !== `Bearer ${token}`) return (record(401), error(res, 401, 40101, "unauthorized"));
      }
      if (failures && failures.left > 0) {
        failures.left--;
        record(failures.status);
        return error(res, failures.status, failures.status * 100 + 1, "stand-in failure");
      }
      const rawPriority = param(req, u.searchParams, "x-priority", "priority", "prio", "p").toLowerCase();
      const priority = rawPriority === "" ? undefined : PRIORITIES[rawPriority];
      if (rawPriority !== "" && priority === undefined) return (record(400), error(res, 400, 40007, "invalid priority"));
      const title = param(req, u.searchParams, "x-title", "title", "t");
      const tags = param(req, u.searchParams, "x-tags", "tags", "tag", "ta")
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      const now = Math.floor(Date.now() / 1000);
      const message: NtfyMessage = {
        id: randomBytes(6).toString("base64url"),
        time: now,
        expires: now + 43_200,
        event: "message",
        topic,
        ...(title ? { title } : {}),
        message: body === "" ? "triggered" : body,
        ...(priority && priority !== 3 ? { priority } : {}),
        ...(tags.length ? { tags } : {}),
      };
      messages.push(message);
      record(200);
      res.writeHead(200, { "content-type": "application/json", "access-control-allow-origin": "*" });
      res.end(`${JSON.stringify(message)}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    topicUrl: (topic: string) => `${base}/${topic}`,
    messages,
    publishes,
    failNext(status: number, count = 1) {
      failures = { status, left: count };
    },
    /** What a subscribing phone would fetch: GET /<topic>/json?poll=1, parsed. */
    async poll(topic: string): Promise<NtfyMessage[]> {
      const text = await (await fetch(`${base}/${topic}/json?poll=1`)).text();
      return text
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as NtfyMessage);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export type NtfyServer = Awaited<ReturnType<typeof startNtfyServer>>;
