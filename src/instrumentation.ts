// Next.js calls register() once per server process, before serving. Node-only
// work sits behind the runtime check so the edge bundle never sees it.
export async function register() {
  if (process.env.NEXT_RUNTIME === "nodejs") {
    const { startServer } = await import("./server/start");
    await startServer();
  }
}
