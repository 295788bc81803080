// SSH from the app to a guest with the ssh2 client (pure JS, no child
// process): key sync and the browser terminal. Authenticates with the private
// keys given, in order, as the guest's login user.
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { Client, type ClientChannel, type ConnectConfig } from "ssh2";

export interface GuestTarget {
  host: string;
  port: number;
  username: string;
}

export interface GuestConnection {
  client: Client;
  /** Which of the offered key files the guest accepted. */
  keyPath: string;
}

/**
 * Connects with each key file in turn (one connection attempt per key, so the
 * caller learns which one the guest accepted). Rejects with the last error
 * when none is accepted.
 */
export async function connectGuest(
  target: GuestTarget,
  keyPaths: string[],
  options: { readyTimeoutMs?: number; keepaliveIntervalMs?: number } = {},
): Promise<GuestConnection> {
  let lastError: unknown = new Error("no SSH key to offer");
  for (const keyPath of keyPaths) {
    if (!existsSync(keyPath)) continue;
    const privateKey = await readFile(keyPath);
    const client = new Client();
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.username,
      privateKey,
      readyTimeout: options.readyTimeoutMs ?? 20_000,
      keepaliveInterval: options.keepaliveIntervalMs ?? 15_000,
      // The guest's host key is new on every VM and not known in advance; the
      // connection goes over the host's own libvirt bridge to the address
      // libvirt's DHCP gave the VM.
      hostVerifier: () => true,
    };
    try {
      await new Promise<void>((resolve, reject) => {
        client.once("ready", () => resolve());
        client.once("error", reject);
        client.connect(config);
      });
      client.on("error", () => {});
      // Terminal keystrokes are tiny writes: without this, Nagle's algorithm
      // holds each one back until the previous one is acknowledged.
      client.setNoDelay(true);
      return { client, keyPath };
    } catch (err) {
      client.end();
      lastError = err;
    }
  }
  throw lastError;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one command on a connected guest, feeding `input` to its stdin. */
export function execGuest(client: Client, command: string, input?: string, timeoutMs = 30_000): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the guest did not finish \`${command.split(" ")[0]}\` within ${timeoutMs / 1000} s`)), timeoutMs);
    client.exec(command, (err, channel: ClientChannel) => {
      if (err) {
        clearTimeout(timer);
        reject(err);
        return;
      }
      let stdout = "";
      let stderr = "";
      channel.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
      channel.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
      channel.on("close", (code: number | null) => {
        clearTimeout(timer);
        resolve({ code: code ?? null, stdout, stderr });
      });
      if (input !== undefined) channel.end(input);
      else channel.end();
    });
  });
}
