// The admin console's procedures. Queries use adminProcedure; every mutation
// uses auditedAdminProcedure, which writes the AuditLog row (who, the
// procedure, target, before, after) after the change succeeds. A handler
// reports its target and values with ctx.audit(); one that does not still gets
// a row, with its input as the "after". A handler that wrote its row itself,
// in the transaction of its change (credit grants), says so with
// ctx.auditWritten() and gets no second one. tests/integration/admin/audit.test.ts
// walks every procedure here and checks this.
import { z } from "zod";
import { listAuditLog, auditFilterSchema, writeAudit } from "../../admin/audit";
import { addBox, boxAddSchema, recentBoxAdds } from "../../admin/box-add";
import { boxFieldsSchema, createBox, updateBox } from "../../admin/catalog";
import { adminHealth } from "../../admin/health";
import { bulkUserAction, deleteUser, searchUsers, setUserDisabled, setUserRole } from "../../admin/users";
import { listAllVms, recentJobs } from "../../admin/vm-overview";
import { DomainError } from "../../errors";
import { catalogWithInstalled } from "../../vms/catalog";
import { grantCredits } from "../../admin/credit-grants";
import { adminDestroyVm, adminSetUserQuota, adminStartVm, adminStopVm, stopAllRunningVms } from "../../vms/admin-actions";
import { listLedgerEntries, currentBalance } from "../../vms/ledger";
import { cancelJob } from "../../vms/cancel";
import { moveQueuedJob } from "../../vms/job-queue";
import { listQueue } from "../../vms/queue-position";
import { defaultQuota, effectiveQuota, usageOf } from "../../vms/quotas";
import { adminProcedure, createTRPCRouter } from "../trpc";

export interface AuditTarget {
  targetType: string;
  targetId: string | null;
  before?: unknown;
  after?: unknown;
}

export const auditedAdminProcedure = adminProcedure.use(async ({ ctx, path, getRawInput, next }) => {
  let target: AuditTarget | null = null;
  let written = false;
  const result = await next({ ctx: { audit: (t: AuditTarget) => void (target = t), auditWritten: () => void (written = true) } });
  if (result.ok && !written) {
    const t = target as AuditTarget | null;
    await writeAudit(ctx.db, {
      actor: ctx.actor,
      action: path,
      targetType: t?.targetType,
      targetId: t?.targetId,
      before: t?.before,
      after: t?.after ?? { input: await getRawInput() },
    });
  }
  return result;
});

/** The typed phrase the emergency stop asks for. */
export const STOP_ALL_PHRASE = "STOP ALL VMS";

const id = z.string().min(1).max(64);
const userId = z.object({ userId: id });
const vmId = z.object({ vmId: id });
const request = (ctx: { sourceIp: string | null; userAgent: string | null }) => ({ sourceIp: ctx.sourceIp, userAgent: ctx.userAgent });
const quotaField = z.number().int().min(0).max(1_000_000).nullable().optional();
const amount = z
  .number()
  .finite()
  .refine((n) => n !== 0, "must not be zero")
  .refine((n) => Math.abs(n) <= 1e9, "is too large");

export const adminRouter = createTRPCRouter({
  // ---- users ----
  users: adminProcedure.input(z.object({ q: z.string().max(320).optional() }).optional()).query(({ ctx, input }) => searchUsers(ctx.db, ctx.actor, input?.q)),

  user: adminProcedure.input(userId).query(async ({ ctx, input }) => {
    const [user] = await searchUsers(ctx.db, ctx.actor, input.userId, 1);
    if (!user || user.id !== input.userId) throw new DomainError("NOT_FOUND", "User not found.");
    return {
      user,
      balance: await currentBalance(ctx.db, input.userId),
      ledger: await listLedgerEntries(ctx.db, input.userId, 50),
      quota: {
        defaults: defaultQuota(),
        effective: await effectiveQuota(ctx.db, input.userId),
        overrides: user.quota,
        usage: await usageOf(ctx.db, input.userId),
      },
    };
  }),

  setRole: auditedAdminProcedure.input(userId.extend({ role: z.enum(["USER", "ADMIN"]) })).mutation(async ({ ctx, input }) => {
    const change = await setUserRole(ctx.db, ctx.actor, input.userId, input.role, request(ctx));
    ctx.audit(change);
    return change.after;
  }),

  setDisabled: auditedAdminProcedure.input(userId.extend({ disabled: z.boolean(), stopVms: z.boolean().default(false) })).mutation(async ({ ctx, input }) => {
    const change = await setUserDisabled(ctx.db, ctx.actor, input.userId, input.disabled, { stopVms: input.stopVms }, request(ctx));
    ctx.audit({ ...change, after: { ...change.after, sessionsEnded: change.sessionsEnded, stoppedVms: change.stoppedVms } });
    return change;
  }),

  deleteUser: auditedAdminProcedure.input(userId).mutation(async ({ ctx, input }) => {
    const result = await deleteUser(ctx.db, ctx.actor, input.userId, request(ctx));
    ctx.audit({
      targetType: "User",
      targetId: input.userId,
      before: result.before,
      after: { status: result.status, destroying: result.destroying, remainingVms: result.remainingVms },
    });
    return { status: result.status, remainingVms: result.remainingVms, destroying: result.destroying };
  }),

  bulk: auditedAdminProcedure
    .input(
      z.object({
        userIds: z.array(id).min(1).max(500),
        action: z.discriminatedUnion("kind", [
          z.object({ kind: z.literal("disable"), stopVms: z.boolean().optional() }),
          z.object({ kind: z.literal("enable") }),
          z.object({
            kind: z.literal("grant"),
            amount,
            reason: z.string().trim().min(1).max(500),
            idempotencyKey: z.string().trim().min(8).max(100).optional(),
          }),
        ]),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const outcomes = await bulkUserAction(ctx.db, ctx.actor, input.userIds, input.action, request(ctx));
      ctx.audit({ targetType: "User", targetId: null, before: { userIds: input.userIds }, after: { action: input.action, outcomes } });
      return outcomes;
    }),

  // The audit row is written with the grant, in its transaction; a retry with the same idempotency key grants nothing and writes nothing.
  grantCredits: auditedAdminProcedure
    .input(userId.extend({ amount, reason: z.string().trim().min(1).max(500), idempotencyKey: z.string().trim().min(8).max(100).optional() }))
    .mutation(async ({ ctx, input }) => {
      const result = await grantCredits(ctx.db, ctx.actor, input, request(ctx), { audit: true });
      ctx.auditWritten();
      return { balance: result.balance, replayed: result.replayed };
    }),

  setQuota: auditedAdminProcedure
    .input(userId.extend({ maxVms: quotaField, maxCpus: quotaField, maxRamMb: quotaField, maxDiskGb: quotaField, maxRunning: quotaField }))
    .mutation(async ({ ctx, input }) => {
      const { userId: target, ...overrides } = input;
      const before = await ctx.db.userQuota.findUnique({ where: { userId: target } });
      const quota = await adminSetUserQuota(ctx.db, ctx.actor, target, overrides, request(ctx));
      ctx.audit({ targetType: "User", targetId: target, before: { overrides: before }, after: { overrides, effective: quota } });
      return quota;
    }),

  // ---- VMs ----
  vms: adminProcedure
    .input(
      z
        .object({
          owner: z.string().max(320).optional(),
          state: z.enum(["PENDING", "CREATING", "RUNNING", "STOPPING", "STOPPED", "STARTING", "RESTARTING", "DESTROYING", "DESTROYED", "ERROR"]).optional(),
          includeDestroyed: z.boolean().optional(),
        })
        .optional(),
    )
    .query(({ ctx, input }) => listAllVms(ctx.db, ctx.actor, input ?? {})),

  jobs: adminProcedure
    .input(z.object({ sinceMinutes: z.number().int().min(1).max(1440).default(15) }).optional())
    .query(({ ctx, input }) => recentJobs(ctx.db, ctx.actor, (input?.sinceMinutes ?? 15) * 60_000)),

  vmStop: auditedAdminProcedure.input(vmId).mutation(async ({ ctx, input }) => vmAction(ctx, input.vmId, adminStopVm)),
  vmStart: auditedAdminProcedure.input(vmId).mutation(async ({ ctx, input }) => vmAction(ctx, input.vmId, adminStartVm)),
  vmDestroy: auditedAdminProcedure.input(vmId).mutation(async ({ ctx, input }) => vmAction(ctx, input.vmId, adminDestroyVm)),

  stopAll: auditedAdminProcedure
    .input(z.object({ confirm: z.string().max(100), reason: z.string().trim().max(500).default("") }))
    .mutation(async ({ ctx, input }) => {
      if (input.confirm !== STOP_ALL_PHRASE) throw new DomainError("BAD_REQUEST", `Type ${STOP_ALL_PHRASE} to confirm.`);
      const result = await stopAllRunningVms(ctx.db, ctx.actor, input.reason, request(ctx));
      ctx.audit({
        targetType: "Vm",
        targetId: null,
        before: { running: [...result.requested, ...result.skipped] },
        after: { ...result, reason: input.reason },
      });
      return result;
    }),

  // ---- the job queue (src/server/vms/job-queue.ts, queue-position.ts, cancel.ts) ----
  queue: adminProcedure.query(({ ctx }) => listQueue(ctx.db, ctx.actor)),
  queueMove: auditedAdminProcedure.input(z.object({ jobId: id, to: z.enum(["front", "back"]) })).mutation(async ({ ctx, input }) => {
    const before = await ctx.db.vmJob.findUnique({ where: { id: input.jobId }, select: { priority: true, vmId: true, kind: true } });
    const result = await moveQueuedJob(ctx.db, ctx.actor, input.jobId, input.to, request(ctx));
    ctx.audit({ targetType: "VmJob", targetId: input.jobId, before, after: { priority: result.priority, to: input.to } });
    return result;
  }),
  queueCancel: auditedAdminProcedure.input(z.object({ jobId: id })).mutation(async ({ ctx, input }) => {
    const before = await ctx.db.vmJob.findUnique({ where: { id: input.jobId }, select: { state: true, vmId: true, kind: true } });
    const result = await cancelJob(ctx.db, ctx.actor, input.jobId, request(ctx));
    ctx.audit({ targetType: "VmJob", targetId: input.jobId, before, after: { state: result.job.state, outcome: result.outcome } });
    return { outcome: result.outcome, state: result.job.state };
  }),

  // ---- catalog ----
  boxes: adminProcedure.query(({ ctx }) => catalogWithInstalled(ctx.db)),
  boxCreate: auditedAdminProcedure.input(boxFieldsSchema).mutation(async ({ ctx, input }) => {
    const change = await createBox(ctx.db, ctx.actor, input);
    ctx.audit(change);
    return change.after;
  }),
  boxUpdate: auditedAdminProcedure.input(boxFieldsSchema.partial().extend({ id })).mutation(async ({ ctx, input }) => {
    const { id: boxId, ...fields } = input;
    const change = await updateBox(ctx.db, ctx.actor, boxId, fields);
    ctx.audit(change);
    return change.after;
  }),
  // The audit row is the request; how the add ended is an event (box.add.succeeded / box.add.failed).
  boxAdd: auditedAdminProcedure.input(boxAddSchema).mutation(async ({ ctx, input }) => {
    const { add, finished } = await addBox(ctx.db, ctx.actor, input);
    // The add outlives the request; its outcome lands in the row and an event, never in this response.
    void finished.catch((err: unknown) => console.error("box add", add.id, err));
    ctx.audit({ targetType: "BoxAdd", targetId: add.id, before: null, after: { name: add.name, sourceKind: add.sourceKind, source: add.source } });
    return add;
  }),
  boxAdds: adminProcedure.query(({ ctx }) => recentBoxAdds(ctx.db, ctx.actor)),

  // ---- audit log and health ----
  audit: adminProcedure.input(auditFilterSchema).query(({ ctx, input }) => listAuditLog(ctx.db, ctx.actor, input)),
  health: adminProcedure.query(({ ctx }) => adminHealth(ctx.db, ctx.actor)),
});

type VmAdminAction = typeof adminStopVm;

/** Runs an admin VM action and reports the VM's state before and the job it queued. */
async function vmAction(
  ctx: {
    db: Parameters<VmAdminAction>[0];
    actor: Parameters<VmAdminAction>[1];
    sourceIp: string | null;
    userAgent: string | null;
    audit: (t: AuditTarget) => void;
  },
  vmId: string,
  action: VmAdminAction,
) {
  const before = await ctx.db.vm.findUnique({ where: { id: vmId }, select: { state: true, ownerId: true, name: true } });
  const job = await action(ctx.db, ctx.actor, vmId, request(ctx));
  ctx.audit({ targetType: "Vm", targetId: vmId, before, after: { jobId: job.id, kind: job.kind } });
  return job;
}
