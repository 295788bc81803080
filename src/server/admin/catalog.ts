// Catalog edits for the admin console: add, edit, disable boxes. Reads live in
// src/server/vms/catalog.ts; this is the only place that changes the rows.
import { z } from "zod";
import type { Db } from "../db/client";
import { conflict, notFound } from "../errors";
import { assertAdmin, type Actor } from "../permissions";

export const boxFieldsSchema = z.object({
  name: z
    .string()
    .trim()
    .max(200)
    .regex(/^[\w.-]+\/[\w.-]+$/, "a Vagrant box name looks like owner/name"),
  displayName: z.string().trim().min(1).max(100),
  osFamily: z.string().trim().min(1).max(40),
  minCpus: z.number().int().min(1).max(256),
  minRamMb: z.number().int().min(128).max(1048576),
  minDiskGb: z.number().int().min(1).max(65536),
  enabled: z.boolean(),
});
export type BoxFields = z.infer<typeof boxFieldsSchema>;

export async function createBox(db: Db, actor: Actor, fields: BoxFields) {
  assertAdmin(actor);
  if (await db.box.findUnique({ where: { name: fields.name } })) throw conflict(`A box named ${fields.name} already exists.`);
  const box = await db.box.create({ data: fields });
  return { targetType: "Box", targetId: box.id, before: null, after: box };
}

export async function updateBox(db: Db, actor: Actor, id: string, fields: Partial<BoxFields>) {
  assertAdmin(actor);
  const before = await db.box.findUnique({ where: { id } });
  if (!before) throw notFound("Box");
  if (fields.name && fields.name !== before.name && (await db.box.findUnique({ where: { name: fields.name } })))
    throw conflict(`A box named ${fields.name} already exists.`);
  const after = await db.box.update({ where: { id }, data: fields });
  return { targetType: "Box", targetId: id, before, after };
}
