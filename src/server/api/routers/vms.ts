// VMs: a thin adapter over src/server/vms/. Permission checks (canViewVm,
// canActOnVm) happen in the domain functions, which every procedure calls.
import { z } from "zod";
import { listLaunchableBoxes } from "../../vms/catalog";
import { createVmOnce } from "../../vms/create-once";
import { currentBalance } from "../../vms/ledger";
import { vmActionsStatus } from "../../vms/host-gate";
import { requestVmOperation } from "../../vms/lifecycle";
import { hourlyCost } from "../../vms/pricing";
import { getJobOutput, getVmDetails, listVmJobs, listVms, myAccount } from "../../vms/queries";
import { createVmInputSchema, specLimits, specSchema } from "../../vms/spec";
import { createTRPCRouter, protectedProcedure } from "../trpc";

const vmId = z.object({ id: z.string().min(1).max(64) });
const request = (ctx: { sourceIp: string | null; userAgent: string | null }) => ({ sourceIp: ctx.sourceIp, userAgent: ctx.userAgent });

export const vmsRouter = createTRPCRouter({
  list: protectedProcedure
    .input(z.object({ includeDestroyed: z.boolean().optional() }).optional())
    .query(({ ctx, input }) => listVms(ctx.db, ctx.actor, { includeDestroyed: input?.includeDestroyed })),

  get: protectedProcedure.input(vmId).query(({ ctx, input }) => getVmDetails(ctx.db, ctx.actor, input.id)),

  // Limits come from settings, so the schema is built when a request arrives. requestKey: one per
  // submit of the launch form, so a double click makes one VM (create-once.ts).
  create: protectedProcedure
    .input((raw) =>
      createVmInputSchema()
        .extend({ requestKey: z.string().min(8).max(64).optional() })
        .parse(raw),
    )
    .mutation(({ ctx, input }) => createVmOnce(ctx.db, ctx.actor, input, request(ctx))),

  start: protectedProcedure.input(vmId).mutation(({ ctx, input }) => requestVmOperation(ctx.db, ctx.actor, input.id, "start", {}, request(ctx))),
  stop: protectedProcedure.input(vmId).mutation(({ ctx, input }) => requestVmOperation(ctx.db, ctx.actor, input.id, "stop", {}, request(ctx))),
  restart: protectedProcedure.input(vmId).mutation(({ ctx, input }) => requestVmOperation(ctx.db, ctx.actor, input.id, "restart", {}, request(ctx))),
  destroy: protectedProcedure
    .input(vmId.extend({ confirmName: z.string().max(100) }))
    .mutation(({ ctx, input }) => requestVmOperation(ctx.db, ctx.actor, input.id, "destroy", { confirmName: input.confirmName }, request(ctx))),

  jobs: protectedProcedure.input(vmId).query(({ ctx, input }) => listVmJobs(ctx.db, ctx.actor, input.id)),
  job: protectedProcedure
    .input(z.object({ jobId: z.string().min(1).max(64), fromOffset: z.number().int().min(0).optional() }))
    .query(({ ctx, input }) => getJobOutput(ctx.db, ctx.actor, input.jobId, input.fromOffset)),

  /** What the launch form offers: enabled boxes installed on this host, and the spec limits. */
  catalog: protectedProcedure.query(async ({ ctx }) => ({ ...(await listLaunchableBoxes(ctx.db)), limits: specLimits() })),

  costEstimate: protectedProcedure
    .input((raw) => specSchema().parse(raw))
    .query(async ({ ctx, input }) => {
      const perHour = hourlyCost(input);
      const balance = await currentBalance(ctx.db, ctx.actor.id);
      return { perHour, perDay: perHour * 24, balance, affordableHours: perHour > 0 ? balance / perHour : null };
    }),

  /** Whether the host can run VM actions now, and if not, why and how to fix it. */
  actionsStatus: protectedProcedure.query(() => vmActionsStatus()),

  myAccount: protectedProcedure.query(({ ctx }) => myAccount(ctx.db, ctx.actor)),
});
