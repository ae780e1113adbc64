-- stagegate's first schema. Plans, audit entries and documents are `json`, not
-- `jsonb`: json keeps the text as written, and a plan's key order is its
-- document order (rollouts, stages and flags are listed in it).

-- The newest revision: one row, moved forward by each write in the same
-- transaction that inserts the revision, so numbers come from here, once each.
CREATE TABLE stagegate_head (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    revision bigint NOT NULL CHECK (revision >= 0)
);
INSERT INTO stagegate_head (revision) VALUES (0);

-- Every revision with its audit entry, one row: they commit together.
CREATE TABLE stagegate_revisions (
    revision bigint PRIMARY KEY CHECK (revision > 0),
    audit json NOT NULL,
    plan json NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now()
);

-- Small documents edited whole (users, keys, webhooks, deliveries,
-- acknowledgements); `version` goes up with each change.
CREATE TABLE stagegate_documents (
    name text PRIMARY KEY,
    body json NOT NULL,
    version bigint NOT NULL
);

-- Metric counts: totals per series and minute, added to by every server.
CREATE TABLE stagegate_counts (
    series text NOT NULL,
    minute integer NOT NULL,
    n bigint NOT NULL CHECK (n >= 0),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (series, minute)
);
CREATE INDEX stagegate_counts_updated ON stagegate_counts (updated_at);
