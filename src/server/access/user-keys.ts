// Users' own SSH keys: list, add, remove. Only the owner adds keys; the owner
// and admins may see and remove them (an admin revoking a leaked key). Someone
// else's key, or keys of a user one may not see, look missing. Every add and
// remove is an event and asks for the owner's VMs to get the new set of keys.
import type { Db } from "../db/client";
import { DomainError, forbidden, notFound } from "../errors";
import { recordEvent } from "../events/record";
import { canManageSshKeys, canRevokeSshKeys, type Actor } from "../permissions";
import { NO_REQUEST, type RequestInfo } from "../request-info";
import { scheduleKeySync } from "./key-sync";
import { keyKind, keyLabel, parsePublicKey } from "./ssh-keys";

/** Enough for every laptop and token a person has; it bounds what each VM's authorized_keys carries. */
export const MAX_KEYS_PER_USER = 50;

const KEY_ROW = { id: true, userId: true, label: true, type: true, bits: true, fingerprint: true, createdAt: true } as const;

type KeyRow = { id: string; userId: string; label: string; type: string; bits: number; fingerprint: string; createdAt: Date };

function view(k: KeyRow) {
  // Per-key last use cannot be known here: each VM's sshd checks the keys itself.
  return { ...k, kind: keyKind(k.type) };
}
export type SshKeyView = ReturnType<typeof view>;

/** A user's keys, oldest first. */
export async function listSshKeys(db: Db, actor: Actor, userId: string): Promise<SshKeyView[]> {
  if (!canRevokeSshKeys(actor, userId)) throw notFound("User");
  if (actor.id !== userId && !(await db.user.findUnique({ where: { id: userId }, select: { id: true } }))) throw notFound("User");
  const rows = await db.sshKey.findMany({ where: { userId }, orderBy: [{ createdAt: "asc" }, { id: "asc" }], select: KEY_ROW });
  return rows.map(view);
}

const isUniqueViolation = (err: unknown) => (err as { code?: string })?.code === "P2002";

const duplicate = (existing: { label: string; createdAt: Date }) =>
  new DomainError(
    "BAD_REQUEST",
    `You already added this key, as “${existing.label}” on ${existing.createdAt.toISOString().slice(0, 10)}. Each key is added once.`,
  );

/** Adds a key to the actor's own account. The text is parsed in full; see ssh-keys.ts for what is refused. */
export async function addSshKey(
  db: Db,
  actor: Actor,
  input: { label?: string | null; publicKey: string },
  request: RequestInfo = NO_REQUEST,
): Promise<SshKeyView> {
  const userId = actor.id;
  if (!canManageSshKeys(actor, userId)) throw forbidden();
  const key = parsePublicKey(input.publicKey);
  const label = keyLabel(input.label, key);
  const existing = await db.sshKey.findUnique({
    where: { userId_fingerprint: { userId, fingerprint: key.fingerprint } },
    select: { label: true, createdAt: true },
  });
  if (existing) throw duplicate(existing);
  if ((await db.sshKey.count({ where: { userId } })) >= MAX_KEYS_PER_USER)
    throw new DomainError("BAD_REQUEST", `You have ${MAX_KEYS_PER_USER} keys, the most an account may hold. Remove one you no longer use first.`);

  let row: KeyRow;
  try {
    row = await db.sshKey.create({
      data: { userId, label, type: key.type, bits: key.bits, fingerprint: key.fingerprint, publicKey: key.publicKey },
      select: KEY_ROW,
    });
  } catch (err) {
    // The same key added twice at the same moment: the unique index decides.
    if (!isUniqueViolation(err)) throw err;
    const winner = await db.sshKey.findUnique({
      where: { userId_fingerprint: { userId, fingerprint: key.fingerprint } },
      select: { label: true, createdAt: true },
    });
    throw winner ? duplicate(winner) : err;
  }
  await recordEvent(db, {
    type: "ssh",
    action: "sshkey.add",
    message: `${actor.email} added SSH key “${label}” (${keyKind(key.type)} ${key.bits} bits, ${key.fingerprint}).`,
    actorId: actor.id,
    actorEmail: actor.email,
    targetUserId: userId,
    sourceIp: request.sourceIp,
    userAgent: request.userAgent,
    details: { keyId: row.id, fingerprint: key.fingerprint, type: key.type, bits: key.bits, label },
  });
  scheduleKeySync(db, userId);
  return view(row);
}

/** Removes a key: the owner's own, or any user's for an admin. */
export async function removeSshKey(db: Db, actor: Actor, keyId: string, request: RequestInfo = NO_REQUEST): Promise<{ id: string }> {
  const key = await db.sshKey.findUnique({ where: { id: keyId }, select: { ...KEY_ROW, user: { select: { email: true } } } });
  if (!key || !canRevokeSshKeys(actor, key.userId)) throw notFound("SSH key");
  // deleteMany: a key removed twice at once is removed (and recorded) once.
  const { count } = await db.sshKey.deleteMany({ where: { id: keyId } });
  if (count === 0) throw notFound("SSH key");
  const own = key.userId === actor.id;
  await recordEvent(db, {
    type: "ssh",
    action: "sshkey.remove",
    severity: own ? "INFO" : "WARNING",
    message: own
      ? `${actor.email} removed SSH key “${key.label}” (${keyKind(key.type)} ${key.bits} bits, ${key.fingerprint}).`
      : `${actor.email} removed ${key.user.email}'s SSH key “${key.label}” (${keyKind(key.type)} ${key.bits} bits, ${key.fingerprint}).`,
    actorId: actor.id,
    actorEmail: actor.email,
    targetUserId: key.userId,
    sourceIp: request.sourceIp,
    userAgent: request.userAgent,
    details: { keyId: key.id, fingerprint: key.fingerprint, type: key.type, bits: key.bits, label: key.label },
  });
  scheduleKeySync(db, key.userId);
  return { id: key.id };
}
