import { adminProcedure, createTRPCRouter } from "../trpc";
import { listUsers } from "../../admin/users";

export const adminRouter = createTRPCRouter({
  users: adminProcedure.query(({ ctx }) => listUsers(ctx.db)),
});
