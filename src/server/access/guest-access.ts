// Guest access: what the app writes into a VM so that its own key and its
// owner's keys open it, and nothing else does. Over SSH as the guest's login
// user (guest-ssh.ts), offering the VM's own key first and Vagrant's insecure
// key second (a guest not yet moved to its own key accepts only that one):
//  - after every boot, password login for sshd is turned off (a line at the top
//    of sshd_config, where sshd's first-value-wins rule makes it hold over the
//    box's own settings and its sshd_config.d files), so no box can keep it on;
//  - ~/.ssh/authorized_keys is replaced, atomically (a temporary file in
//    ~/.ssh, then mv), by the VM's own public key and the owner's keys, each
//    with its label as the comment. The insecure key is not in it, so it no
//    longer opens the VM.
// Installs for one VM never overlap, in this process: the job runner's install
// after a boot and key-sync.ts's background syncs take the same lock.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import type { Db } from "../db/client";
import { env, type Env } from "../env";
import { recordEvent } from "../events/record";
import { connectGuest, execGuest } from "./guest-ssh";
import { insecureKeyPath, vmKeyPaths, vmPublicKey } from "./vm-key";

const globalForAccess = globalThis as unknown as { twargaGuestAccess?: { locks: Map<string, Promise<unknown>>; written: Map<string, string> } };
const shared = (globalForAccess.twargaGuestAccess ??= { locks: new Map(), written: new Map() });

async function withVmLock<T>(vmId: string, fn: () => Promise<T>): Promise<T> {
  const previous = shared.locks.get(vmId) ?? Promise.resolve();
  const next = previous.catch(() => {}).then(fn);
  shared.locks.set(vmId, next);
  try {
    return await next;
  } finally {
    if (shared.locks.get(vmId) === next) shared.locks.delete(vmId);
  }
}

/** "<type> <base64>" as OpenSSH writes a public key of a type sshd takes, without options or comment. */
const KEY_LINE =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]{40,}={0,3}$/;
const END_MARK = "TWARGA_KEYS_END";

/** A label as an authorized_keys comment: one line, no control characters (sshd ignores the rest of the line). */
function comment(label: string): string {
  return (
    label
      .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\s]+/g, " ")
      .trim()
      .slice(0, 100) || "key"
  );
}

/** The guest's authorized_keys: a header, the VM's own key, then the owner's keys in the order they were added. */
export function authorizedKeysContent(vmId: string, ownPublicKey: string, ownerKeys: ReadonlyArray<{ label: string; publicKey: string }>): string {
  const own = ownPublicKey.trim().split(/\s+/).slice(0, 2).join(" ");
  if (!KEY_LINE.test(own)) throw new Error("the VM's own public key is malformed");
  const lines = [
    "# Written by Twarga Cloud when this VM starts and when its owner's SSH keys change; edits here are replaced.",
    "# Add or remove keys on the app's SSH keys page.",
    `${own} twarga-vm-${vmId} (the app's own key for this VM)`,
  ];
  for (const key of ownerKeys) {
    // Rows are parsed and normalised when added (ssh-keys.ts); anything else never reaches a guest.
    if (KEY_LINE.test(key.publicKey)) lines.push(`${key.publicKey} ${comment(key.label)}`);
    else console.warn(`[access] skipped a malformed stored key (${comment(key.label)}) for VM ${vmId}`);
  }
  return `${lines.join("\n")}\n`;
}

export const contentHash = (content: string) => createHash("sha256").update(content).digest("hex");

/** The hash of the authorized_keys this process last wrote into the VM (undefined: none since it started). */
export function writtenKeysHash(vmId: string): string | undefined {
  return shared.written.get(vmId);
}

/** Replaces ~/.ssh/authorized_keys atomically; the content travels inside the script, on stdin. */
function installKeysScript(content: string): string {
  if (content.split("\n").includes(END_MARK)) throw new Error("refusing key content that holds the end marker");
  return `set -eu
umask 077
mkdir -p "$HOME/.ssh"
chmod 700 "$HOME/.ssh"
tmp=$(mktemp "$HOME/.ssh/.authorized_keys.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat > "$tmp" <<'${END_MARK}'
${content}${END_MARK}
chmod 600 "$tmp"
mv -f "$tmp" "$HOME/.ssh/authorized_keys"
trap - EXIT
if command -v restorecon >/dev/null 2>&1; then restorecon -R "$HOME/.ssh" || true; fi
echo twarga-keys-installed
`;
}

/**
 * Turns sshd's password and keyboard-interactive logins off, as root (sudo).
 * The lines go first in sshd_config, before any Include, so they win over the
 * box's settings; sshd checks the new file before it replaces the old one, and
 * is reloaded (established sessions stay). TWARGA_GUEST_ROOT is empty on a real
 * guest (sudo resets the environment); the tests' stand-in guest sets it to its
 * own folder, and has no sshd to check or reload.
 */
const PASSWORD_OFF_SCRIPT = `set -eu
root="\${TWARGA_GUEST_ROOT:-}"
cfg="$root/etc/ssh/sshd_config"
mark='# Twarga Cloud: SSH logins with keys only (no passwords)'
if [ ! -f "$cfg" ]; then echo "twarga: $cfg does not exist" >&2; exit 3; fi
if ! grep -qxF "$mark" "$cfg"; then
  tmp="$cfg.twarga.$$"
  cp -p "$cfg" "$tmp"
  { printf '%s\\nPasswordAuthentication no\\nKbdInteractiveAuthentication no\\n\\n' "$mark"; cat "$cfg"; } > "$tmp"
  if [ -z "$root" ]; then
    sshd_bin=$(command -v sshd || echo /usr/sbin/sshd)
    if [ -x "$sshd_bin" ] && ! "$sshd_bin" -t -f "$tmp"; then rm -f "$tmp"; echo "twarga: sshd refused the new sshd_config" >&2; exit 4; fi
  fi
  # sshd in effect already refusing passwords (the local box's drop-in does):
  # no reload, whose re-exec would reset a connection arriving at that moment.
  already_off=0
  if [ -z "$root" ] && [ -x "$sshd_bin" ]; then
    effective="$("$sshd_bin" -T 2>/dev/null | grep -Ei '^(passwordauthentication|kbdinteractiveauthentication) ' || true)"
    [ "$(printf '%s\n' "$effective" | grep -ci ' no$')" = 2 ] && already_off=1
  fi
  mv -f "$tmp" "$cfg"
  if [ -z "$root" ] && [ "$already_off" = 0 ]; then
    systemctl reload ssh 2>/dev/null || systemctl reload sshd 2>/dev/null || service ssh reload 2>/dev/null || service sshd reload 2>/dev/null \\
      || { [ -f /run/sshd.pid ] && kill -HUP "$(cat /run/sshd.pid)"; } || echo "twarga: sshd was not reloaded; the change applies when it next starts" >&2
  fi
fi
echo twarga-password-login-off
`;

async function runStep(client: Parameters<typeof execGuest>[0], command: string, script: string, doneMark: string, what: string): Promise<void> {
  const r = await execGuest(client, command, script);
  if (r.code !== 0 || !r.stdout.includes(doneMark)) {
    const reason = (r.stderr.trim() || r.stdout.trim() || `exit code ${r.code ?? "none"}`).split("\n").slice(-3).join(" ");
    throw new Error(`could not ${what}: ${reason}`);
  }
}

export interface GuestAccessOutcome {
  /** Which key got in: the VM's own, or Vagrant's insecure key (a VM not yet moved). */
  via: "own-key" | "insecure-key";
  ownerKeys: number;
}

/**
 * Writes the VM's authorized_keys (and, with `passwordOff`, turns password
 * login off) and records when. Throws with the reason when the guest cannot
 * be reached or a step fails; nothing is recorded then.
 */
export async function installGuestAccess(
  db: Db,
  vmId: string,
  opts: { passwordOff?: boolean; readyTimeoutMs?: number } = {},
  e: Env = env(),
): Promise<GuestAccessOutcome> {
  return withVmLock(vmId, async () => {
    const vm = await db.vm.findUnique({
      where: { id: vmId },
      select: { id: true, ownerId: true, state: true, ipAddress: true, sshUser: true, sshPort: true, keysSyncedAt: true },
    });
    if (!vm || vm.state === "DESTROYED") throw new Error("the VM no longer exists");
    if (!vm.ipAddress) throw new Error("the VM has no address yet");
    const paths = vmKeyPaths(vm.id, e);
    const ownPublic = await vmPublicKey(vm.id, e);
    // A web-only replica on another machine has no VM folders; it must never make a key of its own.
    if (!ownPublic || !existsSync(paths.privateKey)) throw new Error("the VM's own key is not on this host");
    const ownerKeys = await db.sshKey.findMany({ where: { userId: vm.ownerId }, orderBy: { createdAt: "asc" }, select: { label: true, publicKey: true } });
    const content = authorizedKeysContent(vm.id, ownPublic, ownerKeys);
    const insecure = insecureKeyPath(e);
    // The key the guest most likely accepts goes first (each refused key costs a connection).
    const offered = vm.keysSyncedAt ? [paths.privateKey, insecure] : [insecure, paths.privateKey];
    const { client, keyPath } = await connectGuest({ host: vm.ipAddress, port: vm.sshPort ?? 22, username: vm.sshUser ?? "vagrant" }, offered, {
      readyTimeoutMs: opts.readyTimeoutMs ?? 20_000,
    }).catch((err: unknown) => {
      throw new Error(
        `could not log in to the guest at ${vm.ipAddress}:${vm.sshPort ?? 22} with the VM's own key or Vagrant's key (${err instanceof Error ? err.message : String(err)})`,
      );
    });
    try {
      if (opts.passwordOff) await runStep(client, "sudo -n sh -s", PASSWORD_OFF_SCRIPT, "twarga-password-login-off", "turn password login off");
      await runStep(client, "sh -s", installKeysScript(content), "twarga-keys-installed", "write ~/.ssh/authorized_keys");
    } finally {
      client.end();
    }
    await db.vm.updateMany({ where: { id: vm.id, state: { not: "DESTROYED" } }, data: { keysSyncedAt: new Date() } });
    shared.written.set(vm.id, contentHash(content));
    return { via: keyPath === insecure ? "insecure-key" : "own-key", ownerKeys: ownerKeys.length };
  });
}

/**
 * After a successful up or reload: password login off and the keys written.
 * Returns a line for the job's output; throws a message for the job when the
 * guest could not be set up. A VM that existed before per-VM keys (never
 * synced) and was let in by the insecure key is recorded as moved.
 */
export async function setUpGuestAccessAfterBoot(
  db: Db,
  vmId: string,
  kind: "CREATE" | "START" | "RESTART",
  requester: { id: string | null; email: string | null },
  e: Env = env(),
): Promise<string> {
  const before = await db.vm.findUniqueOrThrow({ where: { id: vmId }, select: { name: true, ownerId: true, keysSyncedAt: true } });
  let outcome: GuestAccessOutcome;
  try {
    outcome = await installGuestAccess(db, vmId, { passwordOff: true }, e);
  } catch (err) {
    throw new Error(`The VM booted, but its SSH access could not be set up: ${err instanceof Error ? err.message : String(err)}. Starting it again retries.`);
  }
  if (outcome.via === "insecure-key" && kind !== "CREATE") {
    const moved = before.keysSyncedAt === null;
    await recordEvent(db, {
      type: "vm",
      action: moved ? "vm.keys.moved" : "vm.keys.insecure-key-removed",
      severity: moved ? "INFO" : "WARNING",
      message: moved
        ? `${before.name} was moved to its own SSH key: Vagrant's shared insecure key no longer opens it.`
        : `${before.name} accepted Vagrant's shared insecure key again although it had been moved to its own key; the key was removed again.`,
      actorId: requester.id,
      actorEmail: requester.email,
      targetUserId: before.ownerId,
      targetVmId: vmId,
      details: { kind },
    });
  }
  return `SSH access set up: the VM's own key and ${outcome.ownerKeys} key(s) of its owner; password login off.`;
}
