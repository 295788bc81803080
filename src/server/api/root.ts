// The app router: one thin router per area.
import { createCallerFactory, createTRPCRouter } from "./trpc";
import { meRouter } from "./routers/me";
import { adminRouter } from "./routers/admin";

export const appRouter = createTRPCRouter({
  me: meRouter,
  admin: adminRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
