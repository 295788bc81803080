// Helpers for tests that reach the stand-in guests the stand-in vagrant starts
// (tests/support/stand-in-guest/guest.mjs): real key pairs from ssh-keygen,
// SshKey rows as the keys page stores them, the guest's files, and logins with
// the ssh2 client. Import ../vms/harness first (it points the settings at the stand-ins).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "ssh2";
import type { Db } from "~/server/db/client";
import { vmFolder } from "~/server/folders";

const keyDir = mkdtempSync(path.join(tmpdir(), "twarga-user-keys-"));
let keyCount = 0;

export interface UserKeyPair {
  privateKey: string;
  /** "<type> <base64>" as stored in SshKey.publicKey. */
  publicKey: string;
  fingerprint: string;
}

/** A real key pair made by ssh-keygen. */
export function userKeyPair(type: "ed25519" | "ecdsa" | "rsa" = "ed25519"): UserKeyPair {
  const file = path.join(keyDir, `key-${++keyCount}`);
  execFileSync("ssh-keygen", ["-q", "-t", type, ...(type === "rsa" ? ["-b", "2048"] : []), "-N", "", "-C", "test", "-f", file]);
  const publicKey = readFileSync(`${file}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
  const fingerprint = execFileSync("ssh-keygen", ["-lf", `${file}.pub`], { encoding: "utf8" }).split(" ")[1]!;
  return { privateKey: file, publicKey, fingerprint };
}

/** Stores the key for the user as the keys page does (one row per key). */
export async function addUserKey(db: Db, userId: string, label: string, key: UserKeyPair = userKeyPair()) {
  const [type] = key.publicKey.split(" ");
  const row = await db.sshKey.create({ data: { userId, label, type: type!, bits: 256, fingerprint: key.fingerprint, publicKey: key.publicKey } });
  return { ...key, row };
}

export const guestDir = (vmId: string) => path.join(vmFolder(vmId), ".vagrant/guest");
export const guestAuthorizedKeys = (vmId: string) => path.join(guestDir(vmId), "home/.ssh/authorized_keys");
export const modeOf = (file: string) => statSync(file).mode & 0o777;

/** The guest's exec log: one entry per command it ran, with start and end times. */
export function guestExecs(vmId: string): Array<{ label: string; startedAt: number; endedAt: number; code: number }> {
  try {
    return readFileSync(path.join(guestDir(vmId), "exec.log"), "utf8")
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { label: string; startedAt: number; endedAt: number; code: number });
  } catch {
    return [];
  }
}

/** Logs in with one private key (or a password) and runs a command; rejects when the login is refused. */
export function sshRun(
  target: { host: string; port: number; username?: string },
  auth: { privateKey: string } | { password: string },
  command: string,
): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.once("error", reject);
    client.once("ready", () => {
      client.exec(command, (err, channel) => {
        if (err) return reject(err);
        let stdout = "";
        channel.on("data", (d: Buffer) => (stdout += d.toString()));
        channel.stderr.on("data", () => {});
        channel.on("close", (code: number | null) => {
          client.end();
          resolve({ code, stdout });
        });
      });
    });
    client.connect({
      host: target.host,
      port: target.port,
      username: target.username ?? "vagrant",
      readyTimeout: 10_000,
      hostVerifier: () => true,
      ...("privateKey" in auth ? { privateKey: readFileSync(auth.privateKey) } : { password: auth.password, tryKeyboard: false }),
    });
  });
}

/** The guest's SSH address as the app stored it for a running VM. */
export async function guestTarget(db: Db, vmId: string): Promise<{ host: string; port: number }> {
  const vm = await db.vm.findUniqueOrThrow({ where: { id: vmId } });
  if (!vm.ipAddress) throw new Error(`VM ${vmId} has no address`);
  return { host: vm.ipAddress, port: vm.sshPort ?? 22 };
}
