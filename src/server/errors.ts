// Errors the domain modules throw, independent of HTTP. The tRPC layer maps
// `code` onto its own codes; pages show `message` as is, so write it for people.
export type DomainErrorCode = "BAD_REQUEST" | "NOT_FOUND" | "FORBIDDEN" | "CONFLICT" | "PRECONDITION_FAILED" | "UNAUTHORIZED" | "TOO_MANY_REQUESTS";

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "DomainError";
  }
}

export const notFound = (what: string) => new DomainError("NOT_FOUND", `${what} not found.`);
export const conflict = (message: string) => new DomainError("CONFLICT", message);
export const forbidden = (message = "You do not have access to this.") => new DomainError("FORBIDDEN", message);

/** Prisma's unique-constraint violation (P2002), the same through every driver adapter: a concurrent writer took the value first. */
export const isUniqueViolation = (err: unknown): boolean => (err as { code?: string } | null)?.code === "P2002";
