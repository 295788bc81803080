// npm run bench:terminal
// Keystroke-to-echo latency of the browser terminal THROUGH THE APP (one
// keystroke = POST /api/terminal/:id/input; its echo arrives on the
// text/event-stream of GET /api/terminal/:id) against a DIRECT ssh2 connection
// to the same target in the same run, p50/p95 over BENCH_SAMPLES keystrokes
// each (blocks of 20, the two paths taking turns), plus the time to the first
// prompt (opening the terminal until the shell's prompt is on the stream; each
// path is opened once before, so both are timed in warm processes).
//
// Three processes on loopback, as in use: this one plays the browser; the app
// serves the routes; the target is a local stand-in sshd (ssh2's Server half,
// tests/integration/access/terminal-guest.ts) with a real bash on a real PTY,
// accepting only the VM's own key, which the app reads from the VM's folder.
// The app is the built one (`next start`, signed in with a database session
// cookie) when a build exists; otherwise the route handler modules of
// src/app/api/terminal/ mounted in a small node:http server, with only
// getActor replaced by one that makes the same database reads for a known
// session. The output says which. BENCH_TARGET=user@host:port with
// BENCH_TARGET_KEY=<private key> measures against a real guest instead of the
// stand-in. The last line is JSON.
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { register } from "node:module";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { randomBytes } from "node:crypto";
import { Client, type ClientChannel } from "ssh2";

const ROOT = path.resolve(import.meta.dirname, "..");
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 200);
const BLOCK = 20;
const WARMUP = 10;
const DIST_DIR = process.env.NEXT_DIST_DIR || ".next";
// A shell prompt: the stand-in's "guest$ ", or a real guest's "vagrant@host:~$ ".
const PROMPT = /[$#] $/;
// BENCH_TARGET=user@host:port with BENCH_TARGET_KEY=<private key file> measures against a real guest
// (e.g. a VM of the real-VM stage) instead of the stand-in; the key is copied into the bench VM's folder.
const REAL_TARGET = process.env.BENCH_TARGET ? /^([^@]+)@([^:]+):(\d+)$/.exec(process.env.BENCH_TARGET) : null;

const role = process.argv.find((a) => a.startsWith("--role="))?.slice("--role=".length);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Tells the parent this child is ready (one JSON line on stdout). */
const ready = (info: Record<string, unknown>) => process.stdout.write(`READY ${JSON.stringify(info)}\n`);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------- child: the stand-in guest
async function guestMain() {
  const { startStandInGuest } = await import("../tests/integration/access/terminal-guest");
  const guest = await startStandInGuest({ authorizedKeys: [process.env.BENCH_GUEST_KEY!] });
  ready({ port: guest.port });
}

// ---------------------------------------------------------------- child: the app's routes on node:http
async function routesMain() {
  // Only getActor is replaced: Auth.js reads its cookie through Next's
  // request context, which this server does not have. The stand-in does the
  // same database reads per request (the session with its user, as Auth.js's
  // Prisma adapter does, then the user as getActor does) for a session made
  // by the parent; everything under it runs as in the app.
  const dbModule = pathToFileURL(path.join(ROOT, "src/server/db.ts")).href;
  const stubSource = `import { db } from ${JSON.stringify(dbModule)};
    export async function getActor() {
      const session = await db.session.findUnique({ where: { sessionToken: process.env.BENCH_SESSION_TOKEN }, include: { user: true } });
      if (!session || session.expires < new Date()) return null;
      const user = await db.user.findUnique({ where: { id: session.userId }, select: { id: true, email: true, role: true, disabled: true } });
      return user && !user.disabled ? { id: user.id, email: user.email, role: user.role } : null;
    }`;
  const stub = `data:text/javascript,${encodeURIComponent(stubSource)}`;
  const hooks = `export async function resolve(specifier, context, next) {
    const r = await next(specifier, context);
    return r.url.endsWith("/src/server/auth/actor.ts") ? { url: ${JSON.stringify(stub)}, shortCircuit: true } : r;
  }`;
  register(`data:text/javascript,${encodeURIComponent(hooks)}`);
  const open = await import("../src/app/api/terminal/route");
  const stream = await import("../src/app/api/terminal/[id]/route");
  const input = await import("../src/app/api/terminal/[id]/input/route");
  const resize = await import("../src/app/api/terminal/[id]/resize/route");
  const close = await import("../src/app/api/terminal/[id]/close/route");
  type Handler = (req: Request, ctx: { params: Promise<{ id: string }> }) => Promise<Response>;
  const routes: Array<[string, RegExp, Handler]> = [
    ["POST", /^\/api\/terminal$/, (req) => open.POST(req)],
    ["GET", /^\/api\/terminal\/([^/]+)$/, stream.GET],
    ["POST", /^\/api\/terminal\/([^/]+)\/input$/, input.POST],
    ["POST", /^\/api\/terminal\/([^/]+)\/resize$/, resize.POST],
    ["POST", /^\/api\/terminal\/([^/]+)\/close$/, close.POST],
  ];
  const server = createServer({ noDelay: true }, (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? "/", `http://${req.headers.host}`);
      const match = routes.map(([m, re, h]) => [m === req.method ? re.exec(url.pathname) : null, h] as const).find(([m]) => m);
      if (!match) return void res.writeHead(404).end();
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const aborted = new AbortController();
      res.on("close", () => aborted.abort());
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
      const request = new Request(url, {
        method: req.method,
        headers,
        body: req.method === "POST" ? Buffer.concat(chunks) : undefined,
        signal: aborted.signal,
      });
      const response = await match[1](request, { params: Promise.resolve({ id: match[0]![1] ?? "" }) });
      res.writeHead(response.status, Object.fromEntries(response.headers));
      if (!response.body) return void res.end();
      const reader = response.body.getReader();
      aborted.signal.addEventListener("abort", () => void reader.cancel().catch(() => {}));
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) break;
        res.write(value);
      }
      res.end();
    })().catch((err: unknown) => {
      console.error(err);
      res.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(Number(process.env.PORT), "127.0.0.1", () => r()));
  ready({ port: Number(process.env.PORT) });
}

// ---------------------------------------------------------------- parent: the browser's side
interface Child {
  proc: ChildProcess;
  info: Record<string, unknown>;
}

function startChild(
  command: string,
  args: string[],
  env: Record<string, string>,
  readyWhen: (line: string) => Record<string, unknown> | null,
  timeoutMs = 120_000,
): Promise<Child> {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${args.join(" ")} was not ready within ${timeoutMs / 1000} s:\n${out}`)), timeoutMs);
    const onLine = (chunk: Buffer) => {
      out += chunk.toString();
      for (const line of out.split("\n")) {
        const info = readyWhen(line);
        if (info) {
          clearTimeout(timer);
          resolve({ proc, info });
          return;
        }
      }
    };
    proc.stdout!.on("data", onLine);
    proc.stderr!.on("data", (c: Buffer) => (out += c.toString()));
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(" ")} exited (${code}):\n${out}`));
    });
  });
}

const readyLine = (line: string) => (line.startsWith("READY ") ? (JSON.parse(line.slice(6)) as Record<string, unknown>) : null);
const tsxChild = (roleName: string, env: Record<string, string>) =>
  startChild(process.execPath, ["--import", "tsx", path.join(ROOT, "bench/terminal.ts"), `--role=${roleName}`], env, readyLine);

/** One terminal path as the bench drives it: type, and see output. */
interface Path {
  type(data: string): Promise<void>;
  output: { text: string; waiters: Array<() => void> };
  close(): Promise<void>;
}

function onOutput(output: Path["output"], text: string) {
  output.text += text;
  for (const w of output.waiters.splice(0)) w();
}

async function waitForText(output: Path["output"], from: number, needle: string | RegExp, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const found = () => (typeof needle === "string" ? output.text.slice(from).includes(needle) : needle.test(output.text.slice(from)));
  while (!found()) {
    if (Date.now() > deadline) throw new Error(`no ${String(needle)} in the output within ${timeoutMs} ms: ${JSON.stringify(output.text.slice(-200))}`);
    await new Promise<void>((r) => {
      output.waiters.push(r);
      setTimeout(r, 50);
    });
  }
}

/** Through the app: POST to open, SSE for output, POST per keystroke, with the session cookie when the built app runs. */
async function appPath(base: string, vmId: string, cookie: string | null): Promise<{ path: Path; firstPromptMs: number }> {
  const headers: Record<string, string> = { "content-type": "application/json", ...(cookie ? { cookie } : {}) };
  const t0 = performance.now();
  const res = await fetch(`${base}/api/terminal`, { method: "POST", headers, body: JSON.stringify({ vmId, cols: 120, rows: 40 }) });
  if (res.status !== 201) throw new Error(`opening the terminal: ${res.status} ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const output = { text: "", waiters: [] as Array<() => void> };
  const sse = await fetch(`${base}/api/terminal/${id}`, { headers: { accept: "text/event-stream", ...(cookie ? { cookie } : {}) } });
  if (sse.status !== 200 || !sse.headers.get("content-type")?.startsWith("text/event-stream"))
    throw new Error(`the output stream: ${sse.status} ${sse.headers.get("content-type")}`);
  const reader = sse.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (/^event: /m.test(block)) continue;
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (data) onOutput(output, JSON.parse(data) as string);
      }
    }
  })();
  await waitForText(output, 0, PROMPT);
  const firstPromptMs = performance.now() - t0;
  let seq = 0;
  return {
    firstPromptMs,
    path: {
      output,
      async type(data) {
        const r = await fetch(`${base}/api/terminal/${id}/input`, { method: "POST", headers, body: JSON.stringify({ seq: ++seq, data }) });
        if (r.status !== 204) throw new Error(`input: ${r.status} ${await r.text()}`);
      },
      async close() {
        await fetch(`${base}/api/terminal/${id}/close`, { method: "POST", headers, body: "{}" });
        await reader.cancel().catch(() => {});
      },
    },
  };
}

/** Direct: the same key, the same target, an ssh2 client in this process. */
async function directPath(target: { host: string; port: number; user: string }, privateKey: Buffer): Promise<{ path: Path; firstPromptMs: number }> {
  const t0 = performance.now();
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.once("ready", resolve).once("error", reject);
    client.connect({ host: target.host, port: target.port, username: target.user, privateKey, hostVerifier: () => true });
  });
  client.setNoDelay(true);
  const channel = await new Promise<ClientChannel>((resolve, reject) =>
    client.shell({ term: "xterm-256color", cols: 120, rows: 40 }, (err, ch) => (err ? reject(err) : resolve(ch))),
  );
  const output = { text: "", waiters: [] as Array<() => void> };
  channel.on("data", (b: Buffer) => onOutput(output, b.toString("utf8")));
  await waitForText(output, 0, PROMPT);
  return {
    firstPromptMs: performance.now() - t0,
    path: {
      output,
      async type(data) {
        channel.write(data);
      },
      async close() {
        channel.end();
        client.end();
      },
    },
  };
}

const LETTERS = "abcdefghijklmnopqrstuvwxyz";

/** Waits until the output has been quiet for 50 ms. */
async function settle(p: Path): Promise<void> {
  for (;;) {
    const length = p.output.text.length;
    await sleep(50);
    if (p.output.text.length === length) return;
  }
}

/**
 * Types `count` letters one at a time, each timed from the keystroke until its
 * echo is on the output (the input request's own answer may come later and is
 * not waited for), then empties bash's line with Ctrl-U and lets it settle.
 */
async function echoes(p: Path, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const letter = LETTERS[i % LETTERS.length]!;
    const from = p.output.text.length;
    const t0 = performance.now();
    const typed = p.type(letter);
    await waitForText(p.output, from, letter);
    times.push(performance.now() - t0);
    await typed;
  }
  await p.type("\x15");
  await settle(p);
  return times;
}

function stats(sorted: number[], percentile: (s: readonly number[], p: number) => number | null) {
  const round = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100);
  return { p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)), max: round(sorted.at(-1) ?? null), n: sorted.length };
}

async function main() {
  const work = mkdtempSync(path.join(tmpdir(), "twarga-bench-terminal-"));
  const dataDir = path.join(work, "data");
  const dbUrl = `file:${path.join(work, "app.db")}`;
  process.env.DATA_DIR = dataDir;
  process.env.DATABASE_URL = dbUrl;
  const children: ChildProcess[] = [];
  try {
    const { migrate } = await import("../src/server/db/migrate");
    const { createDatabaseClient } = await import("../src/server/db/client");
    const { ensureVmKey } = await import("../src/server/access/vm-key");
    const { percentile } = await import("../src/server/metrics/sampler");
    const { terminalVmData } = await import("../tests/integration/access/terminal-guest");
    await migrate(dbUrl, { log: () => {} });
    const db = createDatabaseClient(dbUrl);
    const user = await db.user.create({ data: { email: "bench@example.com", role: "USER" } });
    const box = await db.box.create({ data: { name: "local/bench", displayName: "Bench", osFamily: "debian" } });
    const vm = await db.vm.create({ data: terminalVmData("bench-vm", user.id, box.id) });
    const keys = await ensureVmKey(vm.id);

    let target: { host: string; port: number; user: string };
    let targetText: string;
    if (REAL_TARGET) {
      const [, user, host, port] = REAL_TARGET;
      copyFileSync(process.env.BENCH_TARGET_KEY!, keys.privateKey);
      target = { host: host!, port: Number(port), user: user! };
      targetText = `a real guest, ${user}@${host}:${port}`;
    } else {
      const guest = await tsxChild("guest", { BENCH_GUEST_KEY: readFileSync(keys.publicKey, "utf8") });
      children.push(guest.proc);
      target = { host: "127.0.0.1", port: guest.info.port as number, user: "vagrant" };
      targetText = "a local stand-in sshd (ssh2 Server, bash on a PTY via script(1))";
    }
    await db.vm.update({ where: { id: vm.id }, data: { ipAddress: target.host, sshPort: target.port, sshUser: target.user } });

    const appPort = await freePort();
    const built = existsSync(path.join(ROOT, DIST_DIR, "BUILD_ID"));
    const appEnv = { DATA_DIR: dataDir, DATABASE_URL: dbUrl, PORT: String(appPort), BACKGROUND_SERVICES: "false", SSHD_LOG_FOLLOW: "false", LOCAL_IDP: "off" };
    let cookie: string | null = null;
    let how: string;
    // A database session as Auth.js keeps them; its cookie is what a signed-in browser sends.
    const token = randomBytes(32).toString("hex");
    await db.session.create({ data: { sessionToken: token, userId: user.id, expires: new Date(Date.now() + 3600_000) } });
    if (built) {
      cookie = `authjs.session-token=${token}`;
      const app = await startChild(
        process.execPath,
        [path.join(ROOT, "node_modules/next/dist/bin/next"), "start", "-p", String(appPort)],
        { ...appEnv, NODE_ENV: "production", AUTH_URL: `http://localhost:${appPort}`, AUTH_SECRET: randomBytes(33).toString("base64") },
        (line) => (/Ready in|started server on/i.test(line) ? {} : null),
      );
      children.push(app.proc);
      how = `the built app (next start from ${DIST_DIR}/), signed in with an Auth.js database session cookie`;
    } else {
      const app = await tsxChild("routes", { ...appEnv, BENCH_SESSION_TOKEN: token });
      children.push(app.proc);
      how =
        `no build in ${DIST_DIR}/: the route handlers of src/app/api/terminal/ mounted in a node:http server (own process);` +
        " getActor reads the session and user rows as Auth.js would, without the cookie";
    }
    const base = `http://${built ? "localhost" : "127.0.0.1"}:${appPort}`;

    console.log(`Target: ${targetText} at ${target.host}:${target.port}, reached with the VM's own key only.`);
    console.log(`App: ${how}, at ${base}.`);

    // One opening each first, thrown away: the first connection of a process
    // pays for loading and compiling code, and would favour whichever path came second.
    await (await appPath(base, vm.id, cookie)).path.close();
    await (await directPath(target, readFileSync(keys.privateKey))).path.close();
    const app = await appPath(base, vm.id, cookie);
    const direct = await directPath(target, readFileSync(keys.privateKey));
    await echoes(app.path, WARMUP);
    await echoes(direct.path, WARMUP);
    const appTimes: number[] = [];
    const directTimes: number[] = [];
    for (let done = 0; done < SAMPLES; done += BLOCK) {
      const n = Math.min(BLOCK, SAMPLES - done);
      appTimes.push(...(await echoes(app.path, n)));
      directTimes.push(...(await echoes(direct.path, n)));
    }
    await app.path.close();
    await direct.path.close();
    await db.$disconnect();

    const a = stats(
      appTimes.sort((x, y) => x - y),
      percentile,
    );
    const d = stats(
      directTimes.sort((x, y) => x - y),
      percentile,
    );
    const ratio = a.p95 !== null && d.p95 ? Math.round((a.p95 / d.p95) * 100) / 100 : null;
    console.log("");
    console.log(`Keystroke to echo, ${SAMPLES} keystrokes per path (after ${WARMUP} warm-up), in blocks of ${BLOCK} taking turns:`);
    console.log(`  through the app (POST input -> SSE output): p50 ${a.p50} ms, p95 ${a.p95} ms, max ${a.max} ms`);
    console.log(`  direct ssh2 to the same target:            p50 ${d.p50} ms, p95 ${d.p95} ms, max ${d.max} ms`);
    console.log(`  app p95 / direct p95: ${ratio}x`);
    console.log(
      `First prompt (second opening): through the app ${app.firstPromptMs.toFixed(1)} ms (open + SSH + shell + event + stream), direct ${direct.firstPromptMs.toFixed(1)} ms`,
    );
    const p95Ok = a.p95 !== null && a.p95 <= 50;
    const ratioOk = ratio !== null && ratio <= 2;
    console.log(`Targets: p95 <= 50 ms ${p95Ok ? "met" : "MISSED"}; <= 2x direct ${ratioOk ? "met" : "MISSED"}`);
    console.log(
      JSON.stringify({
        echoP50Ms: a.p50,
        echoP95Ms: a.p95,
        directP50Ms: d.p50,
        directP95Ms: d.p95,
        ratioP95: ratio,
        firstPromptMs: Math.round(app.firstPromptMs * 10) / 10,
        directFirstPromptMs: Math.round(direct.firstPromptMs * 10) / 10,
        samples: SAMPLES,
        target: REAL_TARGET ? `real guest ${target.user}@${target.host}:${target.port}` : "local stand-in sshd (ssh2 Server + bash on a PTY)",
        app: built ? "next start" : "route handlers on node:http",
      }),
    );
  } finally {
    for (const c of children) c.kill("SIGTERM");
    rmSync(work, { recursive: true, force: true });
  }
}

if (role === "guest") await guestMain();
else if (role === "routes") await routesMain();
else await main();
