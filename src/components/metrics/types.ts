import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "~/server/api/root";

type Out = inferRouterOutputs<AppRouter>["metrics"];
export type CurrentState = Out["current"];
export type VmCurrentState = Out["vmCurrent"];
export type HistoryData = Out["hostHistory"];
