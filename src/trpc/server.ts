// The server-side tRPC caller for server components: same procedures, same
// permission checks, no HTTP.
import "server-only";
import { headers } from "next/headers";
import { cache } from "react";
import { createCaller } from "../server/api/root";
import { createTRPCContext } from "../server/api/trpc";

const createContext = cache(async () => {
  const h = new Headers(await headers());
  h.set("x-trpc-source", "rsc");
  return createTRPCContext({ headers: h });
});

/** `await api()` gives a caller bound to this request's user. */
export const api = cache(async () => createCaller(await createContext()));
