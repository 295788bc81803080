-- Event gets a write-order key, seq, that the correlation rules read by (a
-- cursor survives restarts and sees events from every process). SQLite cannot
-- add an AUTOINCREMENT column to a table, so the table is rebuilt with seq as
-- its primary key (AUTOINCREMENT: never reused, even after retention empties
-- the table) and id kept unique. Existing rows are numbered in time order.
CREATE TABLE "new_Event" (
    "seq" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "id" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "type" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "severity" TEXT NOT NULL DEFAULT 'INFO',
    "actorId" TEXT,
    "actorEmail" TEXT,
    "targetUserId" TEXT,
    "targetVmId" TEXT,
    "sourceIp" TEXT,
    "userAgent" TEXT,
    "message" TEXT NOT NULL,
    "details" JSONB
);
INSERT INTO "new_Event" ("id", "createdAt", "type", "action", "severity", "actorId", "actorEmail", "targetUserId", "targetVmId", "sourceIp", "userAgent", "message", "details")
SELECT "id", "createdAt", "type", "action", "severity", "actorId", "actorEmail", "targetUserId", "targetVmId", "sourceIp", "userAgent", "message", "details"
FROM "Event" ORDER BY "createdAt", "id";
DROP TABLE "Event";
ALTER TABLE "new_Event" RENAME TO "Event";
CREATE UNIQUE INDEX "Event_id_key" ON "Event"("id");
CREATE INDEX "Event_createdAt_id_idx" ON "Event"("createdAt", "id");
CREATE INDEX "Event_type_createdAt_idx" ON "Event"("type", "createdAt");
CREATE INDEX "Event_severity_createdAt_idx" ON "Event"("severity", "createdAt");
CREATE INDEX "Event_actorId_createdAt_idx" ON "Event"("actorId", "createdAt");
CREATE INDEX "Event_targetUserId_createdAt_idx" ON "Event"("targetUserId", "createdAt");
CREATE INDEX "Event_targetVmId_createdAt_idx" ON "Event"("targetVmId", "createdAt");
CREATE INDEX "Event_sourceIp_createdAt_idx" ON "Event"("sourceIp", "createdAt");

-- CreateTable: readers' positions in the Event table
CREATE TABLE "EventCursor" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "position" INTEGER NOT NULL DEFAULT 0,
    "updatedAt" DATETIME NOT NULL
);
-- The in-process rules already saw every event written before this migration.
INSERT INTO "EventCursor" ("name", "position", "updatedAt") SELECT 'correlation', COALESCE(MAX("seq"), 0), CURRENT_TIMESTAMP FROM "Event";

-- AlterTable: the ntfy channel of an alert rule
ALTER TABLE "AlertRule" ADD COLUMN "ntfyUrl" TEXT;
ALTER TABLE "AlertRule" ADD COLUMN "ntfyToken" TEXT;

-- AlterTable: deliveries carry their channel and their next attempt, and are claimed by one sender at a time
ALTER TABLE "WebhookDelivery" ADD COLUMN "channel" TEXT NOT NULL DEFAULT 'webhook';
ALTER TABLE "WebhookDelivery" ADD COLUMN "nextAttemptAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP;
ALTER TABLE "WebhookDelivery" ADD COLUMN "claimedUntil" DATETIME;
CREATE INDEX "WebhookDelivery_status_nextAttemptAt_idx" ON "WebhookDelivery"("status", "nextAttemptAt");
