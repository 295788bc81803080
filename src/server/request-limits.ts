// How large a request body the app reads. Route handlers get the raw request
// from Next, which buffers nothing and limits nothing, so without these a
// client could make the server hold any amount of JSON in memory before zod
// sees it. Bodies over a limit are refused with 413, whether their
// Content-Length says so up front or a chunked body grows past it.

/** tRPC calls: the largest real input is an SSH public key (the form allows 256 KB), a batch holds a few. */
export const TRPC_MAX_BODY_BYTES = 1024 * 1024;
/**
 * Terminal POSTs: up to 64 K characters of keystrokes (terminal-sessions.ts), which JSON can
 * escape to 6 bytes each (a pasted control character becomes \u0001).
 */
export const TERMINAL_MAX_BODY_BYTES = 512 * 1024;

export class BodyTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`The request body is larger than ${maxBytes} bytes.`);
  }
}

/** Whether the request says up front that its body is over the limit. */
export function declaredTooLarge(req: Request, maxBytes: number): boolean {
  const declared = Number(req.headers.get("content-length") ?? "");
  return Number.isFinite(declared) && declared > maxBytes;
}

/** The body as a stream that fails with `tooLarge()` as soon as more than `maxBytes` have arrived. */
function limitedStream(body: ReadableStream<Uint8Array>, maxBytes: number, tooLarge: () => Error): ReadableStream<Uint8Array> {
  let seen = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > maxBytes) controller.error(tooLarge());
        else controller.enqueue(chunk);
      },
    }),
  );
}

/**
 * The same request, with a body that cannot grow past `maxBytes`: reading it
 * fails with `tooLarge()` (for a handler such as tRPC's that reads the body
 * itself and turns the error into its own 413 answer).
 */
export function withBodyLimit(req: Request, maxBytes: number, tooLarge: () => Error): Request {
  if (!req.body) return req;
  const body = declaredTooLarge(req, maxBytes) ? failedStream(tooLarge()) : limitedStream(req.body, maxBytes, tooLarge);
  return new Request(req, { body, duplex: "half" } as RequestInit);
}

function failedStream(error: Error): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (controller) => controller.error(error) });
}

/** The body as text, or BodyTooLargeError once it passes `maxBytes` (declared or streamed). */
export async function readBodyText(req: Request, maxBytes: number): Promise<string> {
  if (declaredTooLarge(req, maxBytes)) throw new BodyTooLargeError(maxBytes);
  if (!req.body) return "";
  return new Response(limitedStream(req.body, maxBytes, () => new BodyTooLargeError(maxBytes))).text();
}
