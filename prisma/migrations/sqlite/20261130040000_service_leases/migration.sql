-- CreateTable: singleton services held by one process at a time (the sampler of each host), renewed by a heartbeat
CREATE TABLE "ServiceLease" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "holder" TEXT NOT NULL,
    "acquiredAt" DATETIME NOT NULL,
    "heartbeatAt" DATETIME NOT NULL,
    "expiresAt" DATETIME NOT NULL,
    "status" JSONB
);

-- CreateTable: why a running VM had no reading at the sampler's last tick (libvirt down, domain gone)
CREATE TABLE "VmReadingGap" (
    "vmId" TEXT NOT NULL PRIMARY KEY,
    "reason" TEXT NOT NULL,
    "since" DATETIME NOT NULL
);
