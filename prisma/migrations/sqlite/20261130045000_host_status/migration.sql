-- CreateTable: whether a host can run VMs, as its background process last checked it; read by every process
CREATE TABLE "HostStatus" (
    "host" TEXT NOT NULL PRIMARY KEY,
    "ready" BOOLEAN NOT NULL,
    "message" TEXT NOT NULL,
    "checks" JSONB NOT NULL,
    "driver" JSONB,
    "checkedAt" DATETIME NOT NULL
);
