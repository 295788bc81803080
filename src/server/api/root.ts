// The app router: one thin router per area.
import { createCallerFactory, createTRPCRouter } from "./trpc";
import { meRouter } from "./routers/me";
import { adminRouter } from "./routers/admin";
import { metricsRouter } from "./routers/metrics";

export const appRouter = createTRPCRouter({
  me: meRouter,
  admin: adminRouter,
  metrics: metricsRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
