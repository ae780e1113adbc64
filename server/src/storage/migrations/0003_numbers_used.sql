-- The highest revision number ever handed out, where it is above the newest
-- revision stored: a data directory copied in with revisions set aside as
-- damaged keeps their numbers, so a client's ETag for one never matches a
-- revision written later. A write takes the number after both.
ALTER TABLE stagegate_head ADD COLUMN used bigint NOT NULL DEFAULT 0 CHECK (used >= 0);
