// The drift check: what the database should look like according to Prisma's
// reading of prisma/schema.prisma (per provider, with Prisma Migrate's own
// type mapping and naming conventions), what it does look like (read from the
// catalog), and the list of differences, each naming the model/field.
import Database from "better-sqlite3";
import pg from "pg";
import type { Datamodel, DmmfField, DmmfModel } from "./prisma-dmmf";

export type Provider = "sqlite" | "postgresql";

/** Prisma's names for referential actions. */
export type Action = "Cascade" | "Restrict" | "NoAction" | "SetNull" | "SetDefault";

export interface ColumnShape {
  name: string;
  type: string;
  notNull: boolean;
  /** The default as the catalog shows it; null when there is none. */
  default: string | null;
  /** SQLite only: declared INTEGER PRIMARY KEY AUTOINCREMENT. */
  autoincrement?: boolean;
}

export interface IndexShape {
  name: string;
  columns: string[];
  descending: boolean[];
  unique: boolean;
}

export interface ForeignKeyShape {
  /** null on SQLite, whose catalog does not keep constraint names. */
  name: string | null;
  columns: string[];
  refTable: string;
  refColumns: string[];
  onDelete: Action;
  onUpdate: Action;
}

export interface TableShape {
  name: string;
  columns: ColumnShape[];
  /** name is null on SQLite (not kept by its catalog). */
  primaryKey: { name: string | null; columns: string[] } | null;
  indexes: IndexShape[];
  foreignKeys: ForeignKeyShape[];
}

export interface DatabaseShape {
  tables: TableShape[];
  /** PostgreSQL enum types and their values in order (empty on SQLite). */
  enums: Map<string, string[]>;
}

// ---------------------------------------------------------------- expected

type DefaultRule = { kind: "none" } | { kind: "present" } | { kind: "autoincrement" } | { kind: "value"; value: string };

interface ExpectedColumn {
  label: string;
  name: string;
  type: string;
  /** What the schema says, for messages ("Int?", "Role"). */
  prismaType: string;
  notNull: boolean;
  default: DefaultRule;
}

interface ExpectedIndex extends IndexShape {
  label: string;
  /** Named with map: in the schema (never truncated by Prisma). */
  explicitName: boolean;
}

interface ExpectedForeignKey extends Omit<ForeignKeyShape, "name"> {
  name: string;
  label: string;
}

interface ExpectedTable {
  label: string;
  name: string;
  columns: ExpectedColumn[];
  primaryKey: { name: string | null; columns: string[] } | null;
  indexes: ExpectedIndex[];
  foreignKeys: ExpectedForeignKey[];
}

interface ExpectedShape {
  tables: ExpectedTable[];
  enums: Map<string, { label: string; values: string[] }>;
}

const PG_TYPES: Record<string, string> = {
  String: "text",
  Int: "integer",
  BigInt: "bigint",
  Float: "double precision",
  Decimal: "numeric(65,30)",
  Boolean: "boolean",
  DateTime: "timestamp(3) without time zone",
  Json: "jsonb",
  Bytes: "bytea",
};

const SQLITE_TYPES: Record<string, string> = {
  String: "TEXT",
  Int: "INTEGER",
  BigInt: "BIGINT",
  Float: "REAL",
  Decimal: "DECIMAL",
  Boolean: "BOOLEAN",
  DateTime: "DATETIME",
  Json: "JSONB",
  Bytes: "BLOB",
};

/** @db.* attributes on PostgreSQL, as format_type() prints them. */
function pgNativeType(name: string, args: string[]): string {
  const a = args.length ? `(${args.join(",")})` : "";
  const simple: Record<string, string> = {
    Text: "text",
    Uuid: "uuid",
    SmallInt: "smallint",
    Integer: "integer",
    BigInt: "bigint",
    DoublePrecision: "double precision",
    Real: "real",
    Money: "money",
    Date: "date",
    Boolean: "boolean",
    Json: "json",
    JsonB: "jsonb",
    ByteA: "bytea",
    Xml: "xml",
    Inet: "inet",
    Citext: "citext",
    Oid: "oid",
  };
  if (simple[name]) return simple[name];
  switch (name) {
    case "VarChar":
      return `character varying${a}`;
    case "Char":
      return `character${a}`;
    case "Decimal":
      return `numeric${a}`;
    case "Timestamp":
      return `timestamp${a} without time zone`;
    case "Timestamptz":
      return `timestamp${a} with time zone`;
    case "Time":
      return `time${a} without time zone`;
    case "Timetz":
      return `time${a} with time zone`;
    case "Bit":
      return `bit${a}`;
    case "VarBit":
      return `bit varying${a}`;
    default:
      throw new Error(`the drift test does not know the native type @db.${name}; add it to pgNativeType()`);
  }
}

function quoteLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

const CLIENT_SIDE_DEFAULTS = new Set(["cuid", "uuid", "nanoid", "ulid"]);

function defaultRule(field: DmmfField): DefaultRule {
  if (!field.hasDefaultValue) return { kind: "none" };
  const d = field.default;
  if (d !== null && typeof d === "object" && !Array.isArray(d) && "name" in d) {
    const fn = (d as { name: string }).name;
    if (CLIENT_SIDE_DEFAULTS.has(fn)) return { kind: "none" };
    if (fn === "now") return { kind: "value", value: "CURRENT_TIMESTAMP" };
    if (fn === "autoincrement") return { kind: "autoincrement" };
    return { kind: "present" }; // dbgenerated(...) and the like
  }
  if (typeof d === "boolean" || typeof d === "number") return { kind: "value", value: String(d) };
  // DateTime literals are rendered by Prisma in a format of its own; Json and
  // lists likewise. Check that a default exists, not its spelling.
  if (typeof d === "string" && field.type !== "DateTime" && !field.isList) return { kind: "value", value: quoteLiteral(d) };
  return { kind: "present" };
}

/**
 * Prisma's default constraint/index name: `<table>_<columns>_<suffix>`
 * (Prisma cuts it to PostgreSQL's 63-byte limit; see nameMatches).
 */
function defaultName(table: string, columns: string[], suffix: string): string {
  return `${[table, ...columns].join("_")}_${suffix}`;
}

function nameMatches(provider: Provider, expected: string, actual: string, explicit: boolean): boolean {
  if (expected === actual) return true;
  if (explicit || provider !== "postgresql" || expected.length <= 63) return false;
  // A name over PostgreSQL's 63-byte limit is truncated by Prisma: accept any
  // cut of the full name that keeps its suffix.
  const suffix = expected.slice(expected.lastIndexOf("_"));
  return actual.length <= 63 && actual.endsWith(suffix) && expected.startsWith(actual.slice(0, -suffix.length));
}

export function expectedShape(dm: Datamodel, provider: Provider): ExpectedShape {
  const models = new Map(dm.models.map((m) => [m.name, m]));
  const enums = new Map(dm.enums.map((e) => [e.name, e]));
  const tableOf = (m: DmmfModel) => m.dbName ?? m.name;
  const columnOf = (m: DmmfModel, fieldName: string) => {
    const f = m.fields.find((x) => x.name === fieldName);
    if (!f) throw new Error(`model ${m.name} has no field ${fieldName}`);
    return f.dbName ?? f.name;
  };
  const sqlType = (f: DmmfField): string => {
    let base: string;
    if (f.kind === "enum") {
      const e = enums.get(f.type);
      base = provider === "postgresql" ? (e?.dbName ?? f.type) : "TEXT";
    } else if (f.nativeType) {
      if (provider !== "postgresql") throw new Error(`@db.${f.nativeType[0]} on ${f.name}: native types are not handled for ${provider}`);
      base = pgNativeType(f.nativeType[0], f.nativeType[1]);
    } else {
      const map = provider === "postgresql" ? PG_TYPES : SQLITE_TYPES;
      base = map[f.type] ?? "";
      if (!base) throw new Error(`the drift test does not know the Prisma type ${f.type}`);
    }
    return f.isList ? `${base}[]` : base;
  };

  const tables: ExpectedTable[] = [];
  for (const m of dm.models) {
    const table = tableOf(m);
    const scalars = m.fields.filter((f) => f.kind === "scalar" || f.kind === "enum");
    const columns: ExpectedColumn[] = scalars.map((f) => ({
      label: `${m.name}.${f.name}`,
      name: f.dbName ?? f.name,
      type: sqlType(f),
      prismaType: `${f.type}${f.isList ? "[]" : f.isRequired ? "" : "?"}`,
      notNull: f.isRequired,
      default: defaultRule(f),
    }));

    const modelIndexes = dm.indexes.filter((i) => i.model === m.name);
    const id = modelIndexes.find((i) => i.type === "id");
    const primaryKey = id
      ? {
          name: provider === "postgresql" ? (id.dbName ?? `${table}_pkey`) : null,
          columns: id.fields.map((x) => columnOf(m, x.name)),
        }
      : null;

    const indexes: ExpectedIndex[] = modelIndexes
      .filter((i) => i.type === "unique" || i.type === "normal")
      .map((i) => {
        const cols = i.fields.map((x) => columnOf(m, x.name));
        const unique = i.type === "unique";
        const attr = i.isDefinedOnField ? `${i.fields[0]!.name} @unique` : `@@${unique ? "unique" : "index"}([${i.fields.map((x) => x.name).join(", ")}])`;
        return {
          label: `${m.name} ${attr}`,
          name: i.dbName ?? defaultName(table, cols, unique ? "key" : "idx"),
          explicitName: Boolean(i.dbName),
          columns: cols,
          descending: i.fields.map((x) => x.sortOrder === "desc"),
          unique,
        };
      });

    const foreignKeys: ExpectedForeignKey[] = m.fields
      .filter((f) => f.kind === "object" && f.relationFromFields && f.relationFromFields.length > 0)
      .map((f) => {
        const target = models.get(f.type)!;
        const cols = f.relationFromFields!.map((n) => columnOf(m, n));
        const anyOptional = f.relationFromFields!.some((n) => !m.fields.find((x) => x.name === n)!.isRequired);
        return {
          label: `${m.name}.${f.name} (@relation(fields: [${f.relationFromFields!.join(", ")}]))`,
          name: defaultName(table, cols, "fkey"),
          columns: cols,
          refTable: tableOf(target),
          refColumns: f.relationToFields!.map((n) => columnOf(target, n)),
          // Prisma's defaults: SetNull when a foreign key field is optional,
          // Restrict otherwise; Cascade on update.
          onDelete: (f.relationOnDelete as Action | undefined) ?? (anyOptional ? "SetNull" : "Restrict"),
          onUpdate: (f.relationOnUpdate as Action | undefined) ?? "Cascade",
        };
      });

    tables.push({ label: `model ${m.name}`, name: table, columns, primaryKey, indexes, foreignKeys });
  }

  // Implicit many-to-many relations get a join table `_<relation>` with
  // columns A and B (A points at the model whose name sorts first).
  const seen = new Set<string>();
  for (const m of dm.models) {
    for (const f of m.fields) {
      if (f.kind !== "object" || !f.isList || !f.relationName || seen.has(f.relationName)) continue;
      const target = models.get(f.type)!;
      const back = target.fields.find((x) => x.kind === "object" && x.relationName === f.relationName && (target !== m || x !== f));
      const implicit = (f.relationFromFields ?? []).length === 0 && back?.isList && (back.relationFromFields ?? []).length === 0;
      if (!implicit) continue;
      seen.add(f.relationName);
      const [ma, mb] = [m, target].sort((x, y) => x.name.localeCompare(y.name)) as [DmmfModel, DmmfModel];
      const idField = (x: DmmfModel) => x.fields.find((y) => y.isId)!;
      const table = `_${f.relationName}`;
      const label = `implicit many-to-many ${m.name}.${f.name} (table ${table})`;
      const fk = (col: "A" | "B", to: DmmfModel): ExpectedForeignKey => ({
        label: `${label} column ${col}`,
        name: `${table}_${col}_fkey`,
        columns: [col],
        refTable: tableOf(to),
        refColumns: [idField(to).dbName ?? idField(to).name],
        onDelete: "Cascade",
        onUpdate: "Cascade",
      });
      const col = (name: "A" | "B", to: DmmfModel): ExpectedColumn => ({
        label: `${label} column ${name}`,
        name,
        type: sqlType({ ...idField(to), isList: false }),
        prismaType: idField(to).type,
        notNull: true,
        default: { kind: "none" },
      });
      const pkOnPg = provider === "postgresql";
      tables.push({
        label,
        name: table,
        columns: [col("A", ma), col("B", mb)],
        primaryKey: pkOnPg ? { name: `${table}_AB_pkey`, columns: ["A", "B"] } : null,
        indexes: [
          ...(pkOnPg
            ? []
            : [
                {
                  label: `${label} unique (A, B)`,
                  name: `${table}_AB_unique`,
                  explicitName: true,
                  columns: ["A", "B"],
                  descending: [false, false],
                  unique: true,
                },
              ]),
          { label: `${label} index (B)`, name: `${table}_B_index`, explicitName: true, columns: ["B"], descending: [false], unique: false },
        ],
        foreignKeys: [fk("A", ma), fk("B", mb)],
      });
    }
  }

  const expectedEnums = new Map<string, { label: string; values: string[] }>();
  if (provider === "postgresql") {
    for (const e of dm.enums) expectedEnums.set(e.dbName ?? e.name, { label: `enum ${e.name}`, values: e.values.map((v) => v.dbName ?? v.name) });
  }
  return { tables, enums: expectedEnums };
}

// ---------------------------------------------------------------- actual

const SQLITE_ACTIONS: Record<string, Action> = {
  CASCADE: "Cascade",
  RESTRICT: "Restrict",
  "NO ACTION": "NoAction",
  "SET NULL": "SetNull",
  "SET DEFAULT": "SetDefault",
};

const PG_ACTIONS: Record<string, Action> = { c: "Cascade", r: "Restrict", a: "NoAction", n: "SetNull", d: "SetDefault" };

export function readSqliteShape(file: string): DatabaseShape {
  const conn = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const tableRows = conn
      .prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_prisma_migrations' ORDER BY name`)
      .all() as { name: string; sql: string }[];
    const tables = tableRows.map(({ name, sql }): TableShape => {
      const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
      const info = conn.prepare(`PRAGMA table_info(${q(name)})`).all() as {
        name: string;
        type: string;
        notnull: number;
        dflt_value: string | null;
        pk: number;
      }[];
      const columns = info.map((c) => ({
        name: c.name,
        type: c.type,
        notNull: c.notnull === 1,
        default: c.dflt_value,
        autoincrement: c.pk > 0 && new RegExp(`"?${c.name}"?\\s+INTEGER[^,]*PRIMARY KEY[^,]*AUTOINCREMENT`, "i").test(sql),
      }));
      const pkCols = info
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => c.name);
      const list = conn.prepare(`PRAGMA index_list(${q(name)})`).all() as { name: string; unique: number; origin: string }[];
      const indexes = list
        .filter((i) => i.origin !== "pk")
        .map((i) => {
          const cols = (conn.prepare(`PRAGMA index_xinfo(${q(i.name)})`).all() as { seqno: number; name: string | null; desc: number; key: number }[])
            .filter((c) => c.key === 1)
            .sort((a, b) => a.seqno - b.seqno);
          return { name: i.name, columns: cols.map((c) => c.name ?? "<expression>"), descending: cols.map((c) => c.desc === 1), unique: i.unique === 1 };
        });
      const fkRows = conn.prepare(`PRAGMA foreign_key_list(${q(name)})`).all() as {
        id: number;
        seq: number;
        table: string;
        from: string;
        to: string | null;
        on_update: string;
        on_delete: string;
      }[];
      const byId = new Map<number, typeof fkRows>();
      for (const r of fkRows) byId.set(r.id, [...(byId.get(r.id) ?? []), r]);
      const foreignKeys = [...byId.values()].map((rows) => {
        rows.sort((a, b) => a.seq - b.seq);
        return {
          name: null,
          columns: rows.map((r) => r.from),
          refTable: rows[0]!.table,
          refColumns: rows.map((r) => r.to ?? "<primary key>"),
          onDelete: SQLITE_ACTIONS[rows[0]!.on_delete.toUpperCase()] ?? "NoAction",
          onUpdate: SQLITE_ACTIONS[rows[0]!.on_update.toUpperCase()] ?? "NoAction",
        };
      });
      return { name, columns, primaryKey: pkCols.length ? { name: null, columns: pkCols } : null, indexes, foreignKeys };
    });
    return { tables, enums: new Map() };
  } finally {
    conn.close();
  }
}

export async function readPostgresShape(url: string): Promise<DatabaseShape> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const schema = (await client.query<{ s: string }>("SELECT current_schema() AS s")).rows[0]!.s;
    const tableRows = (
      await client.query<{ oid: number; name: string }>(
        `SELECT c.oid::int AS oid, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname <> '_prisma_migrations' ORDER BY c.relname`,
        [schema],
      )
    ).rows;
    const tables: TableShape[] = [];
    for (const t of tableRows) {
      const cols = (
        await client.query<{ attnum: number; name: string; type: string; notnull: boolean; dflt: string | null }>(
          `SELECT a.attnum, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull,
                  pg_get_expr(d.adbin, d.adrelid) AS dflt
           FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
           WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
          [t.oid],
        )
      ).rows;
      const nameOf = new Map(cols.map((c) => [c.attnum, c.name]));
      const idx = (
        await client.query<{ name: string; unique: boolean; primary: boolean; keys: number[]; options: number[]; nkeys: number }>(
          `SELECT ic.relname AS name, i.indisunique AS unique, i.indisprimary AS primary,
                  i.indkey::int2[]::int[] AS keys, i.indoption::int2[]::int[] AS options, i.indnkeyatts::int AS nkeys
           FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = $1 ORDER BY ic.relname`,
          [t.oid],
        )
      ).rows;
      const pkIndex = idx.find((i) => i.primary);
      const pkConstraint = (await client.query<{ name: string }>(`SELECT conname AS name FROM pg_constraint WHERE conrelid = $1 AND contype = 'p'`, [t.oid]))
        .rows[0];
      const keyCols = (i: (typeof idx)[number]) => i.keys.slice(0, i.nkeys).map((k) => (k === 0 ? "<expression>" : nameOf.get(k)!));
      const fks = (
        await client.query<{ name: string; keys: number[]; refkeys: number[]; reftable: string; refoid: number; del: string; upd: string }>(
          `SELECT c.conname AS name, c.conkey::int[] AS keys, c.confkey::int[] AS refkeys, r.relname AS reftable, r.oid::int AS refoid,
                  c.confdeltype AS del, c.confupdtype AS upd
           FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid WHERE c.conrelid = $1 AND c.contype = 'f' ORDER BY c.conname`,
          [t.oid],
        )
      ).rows;
      const foreignKeys: ForeignKeyShape[] = [];
      for (const fk of fks) {
        const refNames = new Map(
          (
            await client.query<{ attnum: number; name: string }>(`SELECT attnum, attname AS name FROM pg_attribute WHERE attrelid = $1 AND attnum > 0`, [
              fk.refoid,
            ])
          ).rows.map((r) => [r.attnum, r.name]),
        );
        foreignKeys.push({
          name: fk.name,
          columns: fk.keys.map((k) => nameOf.get(k)!),
          refTable: fk.reftable,
          refColumns: fk.refkeys.map((k) => refNames.get(k)!),
          onDelete: PG_ACTIONS[fk.del] ?? "NoAction",
          onUpdate: PG_ACTIONS[fk.upd] ?? "NoAction",
        });
      }
      tables.push({
        name: t.name,
        columns: cols.map((c) => ({ name: c.name, type: c.type.replace(/"/g, ""), notNull: c.notnull, default: c.dflt })),
        primaryKey: pkIndex ? { name: pkConstraint?.name ?? pkIndex.name, columns: keyCols(pkIndex) } : null,
        indexes: idx
          .filter((i) => !i.primary)
          // indoption bit 0 is DESC.
          .map((i) => ({ name: i.name, columns: keyCols(i), descending: i.options.slice(0, i.nkeys).map((o) => (o & 1) === 1), unique: i.unique })),
        foreignKeys,
      });
    }
    const enumRows = (
      await client.query<{ name: string; label: string }>(
        `SELECT t.typname AS name, e.enumlabel AS label FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         JOIN pg_enum e ON e.enumtypid = t.oid WHERE n.nspname = $1 ORDER BY t.typname, e.enumsortorder`,
        [schema],
      )
    ).rows;
    const enums = new Map<string, string[]>();
    for (const r of enumRows) enums.set(r.name, [...(enums.get(r.name) ?? []), r.label]);
    return { tables, enums };
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------- compare

/** A default as written, without PostgreSQL's casts and parentheses. */
function normalizeDefault(raw: string): string {
  let s = raw.trim();
  for (;;) {
    const next = s
      .replace(/^\((.*)\)$/s, "$1")
      .replace(/::[a-z_ "A-Z0-9[\]().,]+$/, "")
      .trim();
    if (next === s) return s;
    s = next;
  }
}

function sameDefault(expected: string, actual: string): boolean {
  const a = normalizeDefault(actual);
  const num = (s: string) => {
    const m = /^'?(-?\d+(?:\.\d+)?(?:e-?\d+)?)'?$/i.exec(s);
    return m ? Number(m[1]) : undefined;
  };
  const [ne, na] = [num(expected), num(a)];
  if (ne !== undefined && na !== undefined) return ne === na;
  return expected.toLowerCase() === a.toLowerCase();
}

const list = (xs: string[]) => `(${xs.join(", ")})`;

export function compareShapes(dm: Datamodel, provider: Provider, actual: DatabaseShape): string[] {
  const expected = expectedShape(dm, provider);
  const problems: string[] = [];
  const actualTables = new Map(actual.tables.map((t) => [t.name, t]));

  for (const et of expected.tables) {
    const at = actualTables.get(et.name);
    if (!at) {
      problems.push(`${et.label}: table "${et.name}" is missing from the database`);
      continue;
    }
    const actualCols = new Map(at.columns.map((c) => [c.name, c]));
    for (const ec of et.columns) {
      const ac = actualCols.get(ec.name);
      if (!ac) {
        problems.push(`${ec.label}: column "${et.name}"."${ec.name}" is missing from the database`);
        continue;
      }
      if (ac.type.toLowerCase() !== ec.type.toLowerCase()) {
        problems.push(`${ec.label}: column "${et.name}"."${ec.name}" has type ${ac.type || "<none>"}, the schema (${ec.prismaType}) needs ${ec.type}`);
      }
      if (ac.notNull !== ec.notNull) {
        problems.push(
          `${ec.label}: column "${et.name}"."${ec.name}" is ${ac.notNull ? "NOT NULL" : "nullable"}, the schema (${ec.prismaType}) needs it ${ec.notNull ? "NOT NULL" : "nullable"}`,
        );
      }
      const d = ec.default;
      if (d.kind === "none" && ac.default !== null) {
        problems.push(`${ec.label}: column "${et.name}"."${ec.name}" has DEFAULT ${ac.default}, the schema has no database default`);
      } else if (d.kind === "present" && ac.default === null) {
        problems.push(`${ec.label}: column "${et.name}"."${ec.name}" has no DEFAULT, the schema has @default`);
      } else if (d.kind === "value" && (ac.default === null || !sameDefault(d.value, ac.default))) {
        problems.push(
          `${ec.label}: column "${et.name}"."${ec.name}" has ${ac.default === null ? "no DEFAULT" : `DEFAULT ${ac.default}`}, the schema needs DEFAULT ${d.value}`,
        );
      } else if (d.kind === "autoincrement") {
        const ok = provider === "postgresql" ? (ac.default ?? "").startsWith("nextval(") : ac.autoincrement === true;
        if (!ok) problems.push(`${ec.label}: column "${et.name}"."${ec.name}" is not auto-incrementing, the schema has @default(autoincrement())`);
      }
    }
    const schemaCols = new Set(et.columns.map((c) => c.name));
    for (const ac of at.columns) {
      if (!schemaCols.has(ac.name)) problems.push(`${et.label}: column "${et.name}"."${ac.name}" exists in the database but not in the schema`);
    }

    // Primary key.
    const epk = et.primaryKey;
    const apk = at.primaryKey;
    if (epk && !apk) problems.push(`${et.label}: primary key ${list(epk.columns)} is missing from table "${et.name}"`);
    else if (!epk && apk) problems.push(`${et.label}: table "${et.name}" has primary key ${list(apk.columns)}, the schema has no @id/@@id`);
    else if (epk && apk) {
      if (list(epk.columns) !== list(apk.columns))
        problems.push(`${et.label}: primary key of "${et.name}" is ${list(apk.columns)}, the schema needs ${list(epk.columns)}`);
      if (epk.name && apk.name && epk.name !== apk.name)
        problems.push(`${et.label}: primary key of "${et.name}" is named "${apk.name}", Prisma names it "${epk.name}"`);
    }

    // Indexes and unique constraints: matched by columns and uniqueness.
    const key = (i: IndexShape) => `${i.unique ? "unique" : "index"} ${list(i.columns.map((c, n) => (i.descending[n] ? `${c} DESC` : c)))}`;
    const actualIdx = new Map<string, IndexShape[]>();
    for (const ai of at.indexes) actualIdx.set(key(ai), [...(actualIdx.get(key(ai)) ?? []), ai]);
    for (const ei of et.indexes) {
      const candidates = actualIdx.get(key(ei)) ?? [];
      const match = candidates.find((c) => nameMatches(provider, ei.name, c.name, ei.explicitName)) ?? candidates[0];
      if (!match) {
        const sameName = at.indexes.find((ai) => ai.name === ei.name);
        problems.push(
          sameName
            ? `${ei.label}: index "${ei.name}" on "${et.name}" is ${key(sameName)}, the schema needs ${key(ei)}`
            : `${ei.label}: ${key(ei)} on "${et.name}" (named "${ei.name}") is missing from the database`,
        );
        continue;
      }
      actualIdx.set(
        key(ei),
        candidates.filter((c) => c !== match),
      );
      if (!nameMatches(provider, ei.name, match.name, ei.explicitName)) {
        problems.push(`${ei.label}: index on "${et.name}" ${list(ei.columns)} is named "${match.name}", Prisma names it "${ei.name}"`);
      }
    }
    for (const rest of actualIdx.values()) {
      for (const ai of rest) problems.push(`${et.label}: ${key(ai)} "${ai.name}" on "${et.name}" exists in the database but not in the schema`);
    }

    // Foreign keys: matched by columns.
    const fkKey = (f: ForeignKeyShape) => list(f.columns);
    const actualFks = new Map(at.foreignKeys.map((f) => [fkKey(f), f]));
    for (const ef of et.foreignKeys) {
      const af = actualFks.get(fkKey(ef));
      if (!af) {
        problems.push(`${ef.label}: foreign key ${list(ef.columns)} -> "${ef.refTable}"${list(ef.refColumns)} is missing from "${et.name}"`);
        continue;
      }
      actualFks.delete(fkKey(ef));
      if (af.refTable !== ef.refTable || list(af.refColumns) !== list(ef.refColumns)) {
        problems.push(
          `${ef.label}: foreign key ${list(ef.columns)} references "${af.refTable}"${list(af.refColumns)}, the schema needs "${ef.refTable}"${list(ef.refColumns)}`,
        );
      }
      if (af.onDelete !== ef.onDelete)
        problems.push(`${ef.label}: foreign key ${list(ef.columns)} has ON DELETE ${af.onDelete}, the schema needs onDelete: ${ef.onDelete}`);
      if (af.onUpdate !== ef.onUpdate)
        problems.push(`${ef.label}: foreign key ${list(ef.columns)} has ON UPDATE ${af.onUpdate}, the schema needs onUpdate: ${ef.onUpdate}`);
      if (af.name !== null && !nameMatches(provider, ef.name, af.name, false)) {
        problems.push(`${ef.label}: foreign key ${list(ef.columns)} is named "${af.name}", Prisma names it "${ef.name}"`);
      }
    }
    for (const af of actualFks.values()) {
      problems.push(`${et.label}: foreign key ${list(af.columns)} -> "${af.refTable}"${list(af.refColumns)} exists in the database but not in the schema`);
    }
  }

  const expectedTables = new Set(expected.tables.map((t) => t.name));
  for (const at of actual.tables) {
    if (!expectedTables.has(at.name)) problems.push(`table "${at.name}" exists in the database but no model maps to it`);
  }

  for (const [name, ee] of expected.enums) {
    const values = actual.enums.get(name);
    if (!values) problems.push(`${ee.label}: enum type "${name}" is missing from the database`);
    else if (values.join(",") !== ee.values.join(","))
      problems.push(`${ee.label}: enum type "${name}" has values ${list(values)}, the schema needs ${list(ee.values)}`);
  }
  for (const name of actual.enums.keys()) {
    if (!expected.enums.has(name)) problems.push(`enum type "${name}" exists in the database but not in the schema`);
  }
  return problems;
}
