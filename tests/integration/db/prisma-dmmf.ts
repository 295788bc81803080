// Reads prisma/schema.prisma through Prisma's own schema parser, so the drift
// test compares the migrations against what Prisma understands the schema to
// be (attributes, @map, default names, referential actions), not against a
// hand parser. `@prisma/internals` (getDMMF) is not installed; the prisma CLI
// ships the same parser as a WebAssembly module (prisma_schema_build_bg.wasm,
// the one its own getDMMF calls). This is a minimal wasm-bindgen host for its
// `get_dmmf(json) -> json` export. Its imports are matched by name prefix (the
// hash suffixes change between builds); an unknown import fails loudly.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

export interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: "scalar" | "object" | "enum" | "unsupported";
  isList: boolean;
  isRequired: boolean;
  isUnique: boolean;
  isId: boolean;
  isUpdatedAt: boolean;
  hasDefaultValue: boolean;
  default?: unknown;
  type: string;
  nativeType?: [string, string[]] | null;
  relationName?: string;
  relationFromFields?: string[];
  relationToFields?: string[];
  relationOnDelete?: string;
  relationOnUpdate?: string;
}

export interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
  primaryKey: { name: string | null; fields: string[] } | null;
}

export interface DmmfIndex {
  model: string;
  type: "id" | "unique" | "normal" | "fulltext";
  isDefinedOnField: boolean;
  dbName?: string | null;
  fields: { name: string; sortOrder?: "asc" | "desc"; length?: number }[];
}

export interface DmmfEnum {
  name: string;
  dbName?: string | null;
  values: { name: string; dbName: string | null }[];
}

export interface Datamodel {
  models: DmmfModel[];
  enums: DmmfEnum[];
  indexes: DmmfIndex[];
}

type WasmExports = {
  memory: WebAssembly.Memory;
  __wbindgen_externrefs: WebAssembly.Table;
  __wbindgen_malloc(size: number, align: number): number;
  __wbindgen_free(ptr: number, size: number, align: number): void;
  __externref_table_dealloc(idx: number): void;
  __wbindgen_start(): void;
  get_dmmf(ptr: number, len: number): [number, number, number, number];
};

let wasm: WasmExports | undefined;
/** Set by the module's panic hook just before a Rust panic unwinds into a trap. */
let panicMessage: string | undefined;

function loadSchemaWasm(): WasmExports {
  if (wasm) return wasm;
  const require = createRequire(import.meta.url);
  const file = path.join(path.dirname(require.resolve("prisma/package.json")), "build", "prisma_schema_build_bg.wasm");
  const mod = new WebAssembly.Module(readFileSync(file));
  const decoder = new TextDecoder();
  // The host functions below need the instance's exports, which exist only
  // after instantiation.
  const instance: { exports?: WasmExports } = {};
  const text = (ptr: number, len: number) => decoder.decode(new Uint8Array(instance.exports!.memory.buffer, ptr, len));
  const hostFunctions: Record<string, (...args: number[]) => unknown> = {
    __wbg_set_message_: (ptr, len) => {
      panicMessage = text(ptr, len);
    },
    __wbg_Error_: (ptr, len) => new Error(text(ptr, len)),
    __wbg___wbindgen_throw_: (ptr, len) => {
      throw new Error(text(ptr, len));
    },
    __wbindgen_init_externref_table: () => {
      const table = instance.exports!.__wbindgen_externrefs;
      const offset = table.grow(4);
      table.set(0, undefined);
      table.set(offset, undefined);
      table.set(offset + 1, null);
      table.set(offset + 2, true);
      table.set(offset + 3, false);
    },
  };
  const imports: Record<string, Record<string, (...args: number[]) => unknown>> = {};
  for (const imp of WebAssembly.Module.imports(mod)) {
    const prefix = Object.keys(hostFunctions).find((p) => imp.name.startsWith(p));
    if (!prefix) throw new Error(`${file} needs an import this loader does not know (${imp.module}.${imp.name}); the prisma package changed its schema wasm`);
    (imports[imp.module] ??= {})[imp.name] = hostFunctions[prefix]!;
  }
  const exports = new WebAssembly.Instance(mod, imports as WebAssembly.Imports).exports as unknown as WasmExports;
  instance.exports = exports;
  exports.__wbindgen_start();
  wasm = exports;
  return exports;
}

/** Prisma's datamodel (DMMF) for a schema text; throws Prisma's validation errors. */
export function readDatamodel(schemaText: string, fileName = "schema.prisma"): Datamodel {
  const w = loadSchemaWasm();
  const input = new TextEncoder().encode(JSON.stringify({ prismaSchema: [[fileName, schemaText]], noColor: true }));
  const ptr = w.__wbindgen_malloc(input.length, 1);
  new Uint8Array(w.memory.buffer, ptr, input.length).set(input);
  let result: [number, number, number, number];
  try {
    result = w.get_dmmf(ptr, input.length);
  } catch (err) {
    throw new Error(`Prisma's schema parser crashed: ${panicMessage ?? String(err)}`);
  }
  const [outPtr, outLen, errRef, isErr] = result;
  if (isErr) {
    const err = w.__wbindgen_externrefs.get(errRef) as unknown;
    w.__externref_table_dealloc(errRef);
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`${fileName} does not validate: ${message}`);
  }
  const json = new TextDecoder().decode(new Uint8Array(w.memory.buffer, outPtr, outLen));
  w.__wbindgen_free(outPtr, outLen, 1);
  const dmmf = JSON.parse(json) as { datamodel?: Datamodel };
  const dm = dmmf.datamodel;
  if (!dm || !Array.isArray(dm.models) || !Array.isArray(dm.enums) || !Array.isArray(dm.indexes)) {
    throw new Error("Prisma's get_dmmf returned an unexpected shape (no datamodel.models/enums/indexes)");
  }
  return dm;
}
