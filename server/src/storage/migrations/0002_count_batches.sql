-- Each server's batch of counts carries an id, recorded in the transaction that
-- adds it: a batch sent again after its answer was lost (a timeout after the
-- commit) is recognised and not added twice. The leader drops old ids.
CREATE TABLE stagegate_count_batches (
    id text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
