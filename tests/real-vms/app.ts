// The app the real-VM browser test drives: the one `bash scripts/quickstart.sh`
// serves from a clean checkout (tests/real-vms/run.sh starts it), on the
// embedded defaults: SQLite and the local identity provider, the real vagrant,
// the box the quick start built or reused. Only its ports are chosen here.
import path from "node:path";
import type { E2EApp } from "../e2e/support/apps";

const port = Number(process.env.REAL_VMS_PORT ?? 3150);
const clone = path.resolve(process.env.VM_ROOT ?? "/nonexistent/data/vms", "../..");

export const realVmApp: E2EApp = {
  name: "real-vms",
  port,
  url: `http://localhost:${port}`,
  dataDir: path.join(clone, "data"),
  dbFile: path.join(clone, "data/twarga.db"),
  env: {},
};
