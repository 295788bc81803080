-- Event gets a write-order key, seq, that the correlation rules read by (a
-- cursor survives restarts and sees events from every process); it becomes the
-- primary key (as on SQLite, where only a primary key can autoincrement) and id
-- stays unique. Existing rows are numbered in time order.
ALTER TABLE "Event" DROP CONSTRAINT "Event_pkey";
CREATE SEQUENCE "Event_seq_seq" AS INTEGER;
ALTER TABLE "Event" ADD COLUMN "seq" INTEGER;
UPDATE "Event" SET "seq" = n.rn FROM (SELECT "id", ROW_NUMBER() OVER (ORDER BY "createdAt", "id") AS rn FROM "Event") n WHERE n."id" = "Event"."id";
SELECT setval('"Event_seq_seq"', COALESCE((SELECT MAX("seq") FROM "Event"), 0) + 1, false);
ALTER TABLE "Event" ALTER COLUMN "seq" SET DEFAULT nextval('"Event_seq_seq"');
ALTER TABLE "Event" ALTER COLUMN "seq" SET NOT NULL;
ALTER SEQUENCE "Event_seq_seq" OWNED BY "Event"."seq";
ALTER TABLE "Event" ADD CONSTRAINT "Event_pkey" PRIMARY KEY ("seq");
CREATE UNIQUE INDEX "Event_id_key" ON "Event"("id");

-- CreateTable: readers' positions in the Event table
CREATE TABLE "EventCursor" (
    "name" TEXT NOT NULL,
    "position" INTEGER NOT NULL DEFAULT 0,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "EventCursor_pkey" PRIMARY KEY ("name")
);
-- The in-process rules already saw every event written before this migration.
INSERT INTO "EventCursor" ("name", "position", "updatedAt") SELECT 'correlation', COALESCE(MAX("seq"), 0), CURRENT_TIMESTAMP FROM "Event";

-- AlterTable: the ntfy channel of an alert rule
ALTER TABLE "AlertRule" ADD COLUMN "ntfyUrl" TEXT;
ALTER TABLE "AlertRule" ADD COLUMN "ntfyToken" TEXT;

-- AlterTable: deliveries carry their channel and their next attempt, and are claimed by one sender at a time
ALTER TABLE "WebhookDelivery" ADD COLUMN "channel" TEXT NOT NULL DEFAULT 'webhook';
ALTER TABLE "WebhookDelivery" ADD COLUMN "nextAttemptAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;
ALTER TABLE "WebhookDelivery" ADD COLUMN "claimedUntil" TIMESTAMP(3);
CREATE INDEX "WebhookDelivery_status_nextAttemptAt_idx" ON "WebhookDelivery"("status", "nextAttemptAt");
