-- CreateTable: whether a host can run VMs, as its background process last checked it; read by every process
CREATE TABLE "HostStatus" (
    "host" TEXT NOT NULL,
    "ready" BOOLEAN NOT NULL,
    "message" TEXT NOT NULL,
    "checks" JSONB NOT NULL,
    "driver" JSONB,
    "checkedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "HostStatus_pkey" PRIMARY KEY ("host")
);
