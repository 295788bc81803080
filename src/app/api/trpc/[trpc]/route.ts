import { TRPCError } from "@trpc/server";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { appRouter } from "~/server/api/root";
import { createTRPCContext } from "~/server/api/trpc";
import { TRPC_MAX_BODY_BYTES, withBodyLimit } from "~/server/request-limits";

const tooLarge = () => new TRPCError({ code: "PAYLOAD_TOO_LARGE", message: `The request body is larger than ${TRPC_MAX_BODY_BYTES} bytes.` });

const handler = (request: Request) => {
  // tRPC reads the body itself and answers a read that fails with a TRPCError with that error's status (413).
  const req = withBodyLimit(request, TRPC_MAX_BODY_BYTES, tooLarge);
  return fetchRequestHandler({
    endpoint: "/api/trpc",
    req,
    router: appRouter,
    createContext: () => createTRPCContext({ headers: req.headers }),
    onError({ error, path }) {
      if (error.code === "INTERNAL_SERVER_ERROR") console.error(`[trpc] ${path ?? "?"}:`, error);
    },
  });
};

export { handler as GET, handler as POST };
