// A stand-in guest for the browser terminal's tests, its e2e spec and its
// benchmark: an SSH server (ssh2's Server half) on 127.0.0.1 that accepts only
// the public keys it is given, as one login user, and serves a real shell on a
// real pseudo-terminal (util-linux `script` allocates it; bash runs in it), so
// echo, prompts and line editing behave as they do in a VM.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { timingSafeEqual } from "node:crypto";
import ssh2, { type Connection, type ParsedKey } from "ssh2";

// ssh2 is CommonJS, and Node's ESM loader cannot see these two names in it (the bench runs this file under plain Node).
const { Server, utils } = ssh2;

/**
 * An ed25519 host key that ssh2's own parser accepts: now and then ssh2 1.17's
 * generateKeyPairSync writes one its Server then refuses as "Malformed OpenSSH
 * private key" (seen in a full test run), so such a key is made again.
 */
export function parseableHostKey(): string {
  for (;;) {
    const key = utils.generateKeyPairSync("ed25519").private;
    if (!(utils.parseKey(key) instanceof Error)) return key;
  }
}

export const GUEST_PROMPT = "guest$ ";

export interface StandInGuest {
  host: string;
  port: number;
  user: string;
  /** Every PTY request and window change, in order ({ cols, rows }). */
  windows: Array<{ cols: number; rows: number; term?: string }>;
  /** Shells started so far, and how many are still running. */
  shellsStarted(): number;
  shellsRunning(): number;
  /** Connections that passed authentication, and attempts that did not. */
  accepted: number;
  refused: number;
  /** Drops every connection at once, as a guest that powers off does. */
  dropAll(): void;
  close(): Promise<void>;
}

/**
 * The data of a Vm row the terminal can be opened on: a running VM of the
 * owner, at 127.0.0.1, logged into as vagrant, unless `extra` says otherwise
 * (the port is the stand-in's, which the caller knows). For db.vm.create().
 */
export function terminalVmData(
  name: string,
  ownerId: string,
  boxId: string,
  extra: { state?: "RUNNING" | "STOPPED"; ipAddress?: string | null; sshPort?: number; sshUser?: string | null } = {},
) {
  return {
    name,
    activeName: name,
    ownerId,
    boxId,
    cpus: 1,
    ramMb: 512,
    diskGb: 10,
    driver: "qemu",
    state: "RUNNING" as const,
    ipAddress: "127.0.0.1",
    sshUser: "vagrant",
    ...extra,
  };
}

function parsePublicKey(line: string): ParsedKey {
  const parsed = utils.parseKey(line);
  if (parsed instanceof Error) throw parsed;
  return Array.isArray(parsed) ? parsed[0]! : parsed;
}

/** Starts the stand-in on a free port. `authorizedKeys` are OpenSSH public key lines (the VM's own key). */
export async function startStandInGuest(opts: { authorizedKeys: string[]; user?: string }): Promise<StandInGuest> {
  const user = opts.user ?? "vagrant";
  const allowed = opts.authorizedKeys.map(parsePublicKey);
  const home = mkdtempSync(path.join(tmpdir(), "twarga-guest-home-"));
  const hostKey = parseableHostKey();
  const connections = new Set<Connection>();
  const shells = new Set<ChildProcess>();
  let started = 0;

  const guest: StandInGuest = {
    host: "127.0.0.1",
    port: 0,
    user,
    windows: [],
    shellsStarted: () => started,
    shellsRunning: () => shells.size,
    accepted: 0,
    refused: 0,
    dropAll() {
      for (const c of connections) c.end();
      for (const s of shells) s.kill("SIGKILL");
    },
    close: () =>
      new Promise<void>((resolve) => {
        guest.dropAll();
        server.close(() => resolve());
      }),
  };

  const server = new Server({ hostKeys: [hostKey] }, (client) => {
    connections.add(client);
    client.on("close", () => connections.delete(client));
    client.on("error", () => {});
    client.on("authentication", (ctx) => {
      const key =
        ctx.method === "publickey" && ctx.username === user
          ? allowed.find((k) => k.type === ctx.key.algo && matches(k.getPublicSSH(), ctx.key.data))
          : undefined;
      if (!key || ctx.method !== "publickey") {
        guest.refused++;
        ctx.reject(["publickey"]);
        return;
      }
      // Without a signature the client is only asking whether the key would do.
      if (!ctx.signature) return ctx.accept();
      if (key.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) !== true) {
        guest.refused++;
        ctx.reject(["publickey"]);
        return;
      }
      guest.accepted++;
      ctx.accept();
    });
    client.on("ready", () => {
      // As sshd does for an interactive session (the method exists; @types/ssh2 leaves it out for servers).
      (client as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
      client.on("session", (acceptSession) => {
        const session = acceptSession();
        let window = { cols: 80, rows: 24, term: "xterm" };
        session.on("pty", (accept, _reject, info) => {
          window = { cols: info.cols, rows: info.rows, term: info.term };
          guest.windows.push({ ...window });
          accept?.();
        });
        session.on("window-change", (accept, _reject, info) => {
          guest.windows.push({ cols: info.cols, rows: info.rows });
          accept?.();
        });
        session.on("shell", (accept) => {
          const channel = accept();
          const inner = `stty cols ${window.cols} rows ${window.rows}; PS1='${GUEST_PROMPT}' exec bash --norc --noprofile -i`;
          const shell = spawn("script", ["-qfc", inner, "/dev/null"], {
            cwd: home,
            env: { NODE_ENV: "test", PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, TERM: window.term, LANG: "C.UTF-8", USER: user },
            stdio: ["pipe", "pipe", "pipe"],
          });
          started++;
          shells.add(shell);
          channel.pipe(shell.stdin);
          shell.stdout.pipe(channel, { end: false });
          shell.stderr.pipe(channel.stderr, { end: false });
          shell.stdin.on("error", () => {});
          channel.on("close", () => shell.kill("SIGKILL"));
          shell.on("exit", (code) => {
            shells.delete(shell);
            try {
              channel.exit(code ?? 0);
              channel.end();
            } catch {
              // The channel is already gone (the client left first).
            }
          });
        });
      });
    });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  guest.port = (server.address() as { port: number }).port;
  return guest;
}

function matches(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
