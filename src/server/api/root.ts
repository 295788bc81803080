// The app router: one thin router per area.
import { createCallerFactory, createTRPCRouter } from "./trpc";
import { meRouter } from "./routers/me";
import { adminRouter } from "./routers/admin";
import { metricsRouter } from "./routers/metrics";
import { vmsRouter } from "./routers/vms";
import { eventsRouter } from "./routers/events";
import { sshKeysRouter } from "./routers/ssh-keys";
import { apiTokensRouter } from "./routers/api-tokens";

export const appRouter = createTRPCRouter({
  me: meRouter,
  admin: adminRouter,
  metrics: metricsRouter,
  vms: vmsRouter,
  events: eventsRouter,
  sshKeys: sshKeysRouter,
  apiTokens: apiTokensRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
