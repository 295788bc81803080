-- CreateTable: singleton services held by one process at a time (the sampler of each host), renewed by a heartbeat
CREATE TABLE "ServiceLease" (
    "name" TEXT NOT NULL,
    "holder" TEXT NOT NULL,
    "acquiredAt" TIMESTAMP(3) NOT NULL,
    "heartbeatAt" TIMESTAMP(3) NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "status" JSONB,

    CONSTRAINT "ServiceLease_pkey" PRIMARY KEY ("name")
);

-- CreateTable: why a running VM had no reading at the sampler's last tick (libvirt down, domain gone)
CREATE TABLE "VmReadingGap" (
    "vmId" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "since" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "VmReadingGap_pkey" PRIMARY KEY ("vmId")
);
