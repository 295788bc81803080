// The expected outcome of every tRPC procedure for every kind of caller, in one
// table. authorization-matrix.test.ts walks the app router and fails on any
// procedure that has no row here, so a new procedure cannot be forgotten: add
// one line, with the access rule (below) and a valid input for the owner.
//
// The callers:
//   signedOut  no session
//   disabled   a session of a user an admin has disabled
//   owner      a user acting on their own things (the input names them)
//   stranger   another user, sending the owner's input (another user's VM, job, key…)
//   admin      an admin, sending the owner's input
// An outcome is "ok" (the call succeeds) or the tRPC error code it must fail with.
import { generateKeyPairSync } from "node:crypto";
import type { Actor } from "~/server/permissions";

// PRECONDITION_FAILED: the caller got past every permission check to a refusal about the host (no sampler runs in the test).
export type Outcome = "ok" | "UNAUTHORIZED" | "FORBIDDEN" | "NOT_FOUND" | "PRECONDITION_FAILED";
export const ROLES = ["signedOut", "disabled", "stranger", "owner", "admin"] as const;
export type Role = (typeof ROLES)[number];
export type Rule = Record<Role, Outcome>;

/** What a row's input may use: the callers, and fresh things owned by `owner` (a mutation gets its own, so one caller's success does not change what the next one sees). */
export interface World {
  owner: Actor;
  stranger: Actor;
  admin: Actor;
  boxId: string;
  /** The owner's running VM with a finished create job, samples and events (for reads). */
  vmId: string;
  jobId: string;
  eventId: string;
  freshVm(state: "RUNNING" | "STOPPED"): Promise<{ id: string; name: string }>;
  freshSshKey(): Promise<string>;
  /** A QUEUED create job of a fresh VM of the owner's. */
  freshQueuedJob(): Promise<string>;
  freshApiToken(): Promise<string>;
  /** A plain user for admin actions to act on. */
  freshUser(): Promise<string>;
  freshAlertRule(): Promise<string>;
  unique(prefix: string): string;
}

export interface Row {
  rule: Rule;
  input?: (w: World) => unknown;
}

const SIGNED_OUT = { signedOut: "UNAUTHORIZED", disabled: "UNAUTHORIZED" } as const;
/** Anyone signed in; what they get is their own (or, for admins, everyone's). */
const anyUser: Rule = { ...SIGNED_OUT, stranger: "ok", owner: "ok", admin: "ok" };
/** The owner and admins; to anyone else the thing does not exist. */
const ownerOrAdmin: Rule = { ...SIGNED_OUT, stranger: "NOT_FOUND", owner: "ok", admin: "ok" };
/** The owner only; to anyone else, admins included, the thing does not exist (API tokens). */
const ownerOnly: Rule = { ...SIGNED_OUT, stranger: "NOT_FOUND", owner: "ok", admin: "NOT_FOUND" };
/** Admins only; to everyone else the procedure refuses outright. */
const adminOnly: Rule = { ...SIGNED_OUT, stranger: "FORBIDDEN", owner: "FORBIDDEN", admin: "ok" };

const history = { metrics: ["cpuPct"], range: "1h" } as const;
/** An alert rule input; the matrix test makes its fixtures from the same one. */
export const rule = (name: string) =>
  ({
    name,
    metric: "cpuPct",
    comparison: "gte",
    threshold: 90,
    clearThreshold: 80,
    durationS: 60,
    scope: "host",
    severity: "WARNING",
    enabled: true,
    webhookUrl: null,
  }) as const;

const box = (name: string) => ({ name: `local/${name}`, displayName: "Matrix", osFamily: "debian", minCpus: 1, minRamMb: 256, minDiskGb: 2, enabled: false });

// prettier-ignore
export const AUTHORIZATION: Record<string, Row> = {
  "me.get":                      { rule: anyUser },

  "vms.list":                    { rule: anyUser },
  "vms.get":                     { rule: ownerOrAdmin, input: (w) => ({ id: w.vmId }) },
  "vms.create":                  { rule: anyUser, input: (w) => ({ name: w.unique("vm"), boxId: w.boxId, cpus: 1, ramMb: 512, diskGb: 10 }) },
  "vms.start":                   { rule: ownerOrAdmin, input: async (w) => ({ id: (await w.freshVm("STOPPED")).id }) },
  "vms.stop":                    { rule: ownerOrAdmin, input: async (w) => ({ id: (await w.freshVm("RUNNING")).id }) },
  "vms.restart":                 { rule: ownerOrAdmin, input: async (w) => ({ id: (await w.freshVm("RUNNING")).id }) },
  "vms.destroy":                 { rule: ownerOrAdmin, input: async (w) => { const vm = await w.freshVm("STOPPED"); return { id: vm.id, confirmName: vm.name }; } },
  "vms.cancelJob":               { rule: ownerOrAdmin, input: async (w) => ({ jobId: await w.freshQueuedJob() }) },
  "vms.queuePlace":              { rule: ownerOrAdmin, input: (w) => ({ id: w.vmId }) },
  "vms.jobs":                    { rule: ownerOrAdmin, input: (w) => ({ id: w.vmId }) },
  "vms.job":                     { rule: ownerOrAdmin, input: (w) => ({ jobId: w.jobId }) },
  "vms.catalog":                 { rule: anyUser },
  "vms.costEstimate":            { rule: anyUser, input: () => ({ cpus: 1, ramMb: 512, diskGb: 10 }) },
  "vms.actionsStatus":           { rule: anyUser },
  "vms.myAccount":               { rule: anyUser },

  "metrics.current":             { rule: anyUser },
  "metrics.vmCurrent":           { rule: ownerOrAdmin, input: (w) => ({ vmId: w.vmId }) },
  "metrics.openAlertCount":      { rule: anyUser },
  "metrics.status":              { rule: anyUser },
  "metrics.hostHistory":         { rule: anyUser, input: () => history },
  "metrics.hostDefaultRange":    { rule: anyUser },
  "metrics.vmHistory":           { rule: ownerOrAdmin, input: (w) => ({ ...history, vmId: w.vmId }) },
  "metrics.hostDevices":         { rule: anyUser, input: () => ({ range: "1h" }) },
  "metrics.deviceHistory":       { rule: anyUser, input: () => ({ ...history, metrics: ["fsPct"], source: "fs:/" }) },
  "metrics.collectNow":          { rule: { ...adminOnly, admin: "PRECONDITION_FAILED" } },
  "metrics.retentionNow":        { rule: adminOnly },
  "metrics.health":              { rule: adminOnly },
  "metrics.webhookDeliveries":   { rule: adminOnly },
  "metrics.rules":               { rule: adminOnly },
  "metrics.createRule":          { rule: adminOnly, input: (w) => rule(w.unique("rule")) },
  "metrics.updateRule":          { rule: adminOnly, input: async (w) => ({ ...rule(w.unique("rule")), id: await w.freshAlertRule() }) },
  "metrics.deleteRule":          { rule: adminOnly, input: async (w) => ({ id: await w.freshAlertRule() }) },
  "metrics.rotateWebhookSecret": { rule: adminOnly, input: async (w) => ({ id: await w.freshAlertRule() }) },

  "events.list":                 { rule: anyUser, input: () => ({}) },
  "events.get":                  { rule: ownerOrAdmin, input: (w) => ({ id: w.eventId }) },

  "sshKeys.list":                { rule: ownerOrAdmin, input: (w) => ({ userId: w.owner.id }) },
  "sshKeys.add":                 { rule: anyUser, input: (w) => ({ label: w.unique("key"), publicKey: newPublicKey() }) },
  "sshKeys.remove":              { rule: ownerOrAdmin, input: async (w) => ({ id: await w.freshSshKey() }) },

  "apiTokens.list":              { rule: anyUser },
  "apiTokens.create":            { rule: anyUser, input: (w) => ({ label: w.unique("token"), scopes: ["vms:read"], expiresInDays: 30 }) },
  "apiTokens.revoke":            { rule: ownerOnly, input: async (w) => ({ id: await w.freshApiToken() }) },

  "admin.users":                 { rule: adminOnly, input: () => ({}) },
  "admin.user":                  { rule: adminOnly, input: (w) => ({ userId: w.owner.id }) },
  "admin.setRole":               { rule: adminOnly, input: async (w) => ({ userId: await w.freshUser(), role: "ADMIN" }) },
  "admin.setDisabled":           { rule: adminOnly, input: async (w) => ({ userId: await w.freshUser(), disabled: true }) },
  "admin.deleteUser":            { rule: adminOnly, input: async (w) => ({ userId: await w.freshUser() }) },
  "admin.bulk":                  { rule: adminOnly, input: async (w) => ({ userIds: [await w.freshUser()], action: { kind: "grant", amount: 5, reason: "matrix" } }) },
  "admin.grantCredits":          { rule: adminOnly, input: async (w) => ({ userId: await w.freshUser(), amount: 5, reason: "matrix" }) },
  "admin.setQuota":              { rule: adminOnly, input: async (w) => ({ userId: await w.freshUser(), maxVms: 3 }) },
  "admin.vms":                   { rule: adminOnly, input: () => ({}) },
  "admin.jobs":                  { rule: adminOnly, input: () => ({}) },
  "admin.vmStop":                { rule: adminOnly, input: async (w) => ({ vmId: (await w.freshVm("RUNNING")).id }) },
  "admin.vmStart":               { rule: adminOnly, input: async (w) => ({ vmId: (await w.freshVm("STOPPED")).id }) },
  "admin.vmDestroy":             { rule: adminOnly, input: async (w) => ({ vmId: (await w.freshVm("STOPPED")).id }) },
  "admin.stopAll":               { rule: adminOnly, input: () => ({ confirm: "STOP ALL VMS", reason: "matrix" }) },
  "admin.queue":                 { rule: adminOnly },
  "admin.queueMove":             { rule: adminOnly, input: async (w) => ({ jobId: await w.freshQueuedJob(), to: "front" }) },
  "admin.queueCancel":           { rule: adminOnly, input: async (w) => ({ jobId: await w.freshQueuedJob() }) },
  "admin.boxes":                 { rule: adminOnly },
  "admin.boxCreate":             { rule: adminOnly, input: (w) => box(w.unique("box")) },
  "admin.boxUpdate":             { rule: adminOnly, input: (w) => ({ id: w.boxId, displayName: w.unique("Box") }) },
  "admin.boxAdd":                { rule: adminOnly, input: (w) => ({ source: { kind: "url", url: "http://127.0.0.1:9/a.box" }, name: `test/${w.unique("add")}` }) },
  "admin.boxAdds":               { rule: adminOnly },
  "admin.audit":                 { rule: adminOnly, input: () => ({}) },
  "admin.health":                { rule: adminOnly },
};

/** A fresh OpenSSH public key line ("ssh-ed25519 <base64>"), made with node:crypto. */
export function newPublicKey(): string {
  const raw = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const field = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from("ssh-ed25519")), field(raw)]).toString("base64")}`;
}
