// VMs: a thin adapter over src/server/vms/. Permission checks (canViewVm,
// canActOnVm) happen in the domain functions, which every procedure calls.
import { z } from "zod";
import { listLaunchableBoxes } from "../../vms/catalog";
import { createVmOnce } from "../../vms/create-once";
import { currentBalance } from "../../vms/ledger";
import { vmActionsStatus } from "../../vms/host-gate";
import { requestVmOperation } from "../../vms/lifecycle";
import { hourlyCost } from "../../vms/pricing";
import { cancelJob, requestDestroy } from "../../vms/cancel";
import { queuePlaceOfVm } from "../../vms/queue-position";
import { getJobOutput, getVmDetails, listVmJobs, listVms, myAccount } from "../../vms/queries";
import { createVmInputSchema, specLimits, specSchema } from "../../vms/spec";
import { createTRPCRouter, protectedProcedure } from "../trpc";

const vmId = z.object({ id: z.string().min(1).max(64) });
const request = (ctx: { sourceIp: string | null; userAgent: string | null }) => ({ sourceIp: ctx.sourceIp, userAgent: ctx.userAgent });

export const vmsRouter = createTRPCRouter({
  list: protectedProcedure
    .meta({ scope: "vms:read" })
    .input(z.object({ includeDestroyed: z.boolean().optional() }).optional())
    .query(({ ctx, input }) => listVms(ctx.db, ctx.actor, { includeDestroyed: input?.includeDestroyed })),

  get: protectedProcedure
    .meta({ scope: "vms:read" })
    .input(vmId)
    .query(({ ctx, input }) => getVmDetails(ctx.db, ctx.actor, input.id)),

  // Limits come from settings, so the schema is built when a request arrives. requestKey: one per
  // submit of the launch form, so a double click makes one VM (create-once.ts).
  create: protectedProcedure
    .meta({ scope: "vms:write" })
    .input((raw) =>
      createVmInputSchema()
        .extend({ requestKey: z.string().min(8).max(64).optional() })
        .parse(raw),
    )
    .mutation(({ ctx, input }) => createVmOnce(ctx.db, ctx.actor, input, request(ctx))),

  start: protectedProcedure
    .meta({ scope: "vms:write" })
    .input(vmId)
    .mutation(({ ctx, input }) => requestVmOperation(ctx.db, ctx.actor, input.id, "start", {}, request(ctx))),
  stop: protectedProcedure
    .meta({ scope: "vms:write" })
    .input(vmId)
    .mutation(({ ctx, input }) => requestVmOperation(ctx.db, ctx.actor, input.id, "stop", {}, request(ctx))),
  restart: protectedProcedure
    .meta({ scope: "vms:write" })
    .input(vmId)
    .mutation(({ ctx, input }) => requestVmOperation(ctx.db, ctx.actor, input.id, "restart", {}, request(ctx))),
  // In any state: a queued job is dropped, a running one ended first (cancel.ts).
  destroy: protectedProcedure
    .meta({ scope: "vms:write" })
    .input(vmId.extend({ confirmName: z.string().max(100) }))
    .mutation(({ ctx, input }) => requestDestroy(ctx.db, ctx.actor, input.id, input.confirmName, request(ctx))),
  /** Cancels a queued job at once, or a running create (its Vagrant process is ended and what it made destroyed). */
  cancelJob: protectedProcedure
    .meta({ scope: "vms:write" })
    .input(z.object({ jobId: z.string().min(1).max(64) }))
    .mutation(({ ctx, input }) => cancelJob(ctx.db, ctx.actor, input.jobId, request(ctx))),
  /** The VM's queued job: its place in its lane and when it should start, from recent durations on this host. */
  queuePlace: protectedProcedure
    .meta({ scope: "vms:read" })
    .input(vmId)
    .query(({ ctx, input }) => queuePlaceOfVm(ctx.db, ctx.actor, input.id)),

  jobs: protectedProcedure
    .meta({ scope: "vms:read" })
    .input(vmId)
    .query(({ ctx, input }) => listVmJobs(ctx.db, ctx.actor, input.id)),
  job: protectedProcedure
    .meta({ scope: "vms:read" })
    .input(z.object({ jobId: z.string().min(1).max(64), fromOffset: z.number().int().min(0).optional() }))
    .query(({ ctx, input }) => getJobOutput(ctx.db, ctx.actor, input.jobId, input.fromOffset)),

  /** What the launch form offers: enabled boxes installed on this host, and the spec limits. */
  catalog: protectedProcedure.meta({ scope: "vms:read" }).query(async ({ ctx }) => ({ ...(await listLaunchableBoxes(ctx.db)), limits: specLimits() })),

  costEstimate: protectedProcedure
    .meta({ scope: "vms:read" })
    .input((raw) => specSchema().parse(raw))
    .query(async ({ ctx, input }) => {
      const perHour = hourlyCost(input);
      const balance = await currentBalance(ctx.db, ctx.actor.id);
      return { perHour, perDay: perHour * 24, balance, affordableHours: perHour > 0 ? balance / perHour : null };
    }),

  /** Whether the host can run VM actions now, and if not, why and how to fix it. */
  actionsStatus: protectedProcedure.meta({ scope: "vms:read" }).query(({ ctx }) => vmActionsStatus(ctx.db)),

  myAccount: protectedProcedure.meta({ scope: "vms:read" }).query(({ ctx }) => myAccount(ctx.db, ctx.actor)),
});
