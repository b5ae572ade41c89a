-- Relay frames as one function call: the adapter (src/storage/postgres/relay.postgres.ts) sends
-- the frames of one event-loop turn as arrays (frame i is element i of each), and learns each
-- frame's outcome: 0 stored, 1 duplicate, 2 rejected (no block: nums[i] IS NULL).
--
-- First copy wins across every instance: the first frame of the batch for each number is
-- inserted with ON CONFLICT DO NOTHING, which waits for a concurrent transaction inserting the
-- same number and then stores nothing if that one committed. Rows are written in key order
-- (blocks by number, then clients by address), so concurrent batches queue in one order and
-- cannot deadlock. Sender counters are added to (upsert with increments), so instances' counts
-- sum up.
CREATE FUNCTION relay_record(addrs text[], sizes bigint[], ats timestamptz[], nums bigint[], hashes text[], docs bytea[])
RETURNS int[]
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  outcome int[];
BEGIN
  WITH f AS (
    SELECT * FROM unnest(nums, hashes, sizes, ats, addrs, docs) WITH ORDINALITY AS f(num, hash, size, at, addr, doc, i)
  ), firsts AS (
    SELECT DISTINCT ON (f.num) f.* FROM f WHERE f.num IS NOT NULL ORDER BY f.num, f.i
  ), stored AS (
    INSERT INTO relay_blocks (number, hash, bytes, received_at, sender, html)
    SELECT firsts.num, firsts.hash, firsts.size, firsts.at, firsts.addr, firsts.doc FROM firsts ORDER BY firsts.num
    ON CONFLICT (number) DO NOTHING
    RETURNING number
  )
  SELECT array_agg(CASE WHEN f.num IS NULL THEN 2 WHEN w.i = f.i THEN 0 ELSE 1 END ORDER BY f.i)
  INTO outcome
  FROM f LEFT JOIN (SELECT firsts.num, firsts.i FROM firsts JOIN stored ON stored.number = firsts.num) AS w ON w.num = f.num;

  INSERT INTO relay_clients AS c (address, frames, bytes, duplicates, rejected, first_seen, last_seen)
  SELECT u.addr, count(*), sum(u.size), count(*) FILTER (WHERE u.o = 1), count(*) FILTER (WHERE u.o = 2), min(u.at), max(u.at)
  FROM unnest(addrs, sizes, ats, outcome) AS u(addr, size, at, o)
  GROUP BY u.addr
  ORDER BY u.addr
  ON CONFLICT (address) DO UPDATE SET
    frames = c.frames + excluded.frames,
    bytes = c.bytes + excluded.bytes,
    duplicates = c.duplicates + excluded.duplicates,
    rejected = c.rejected + excluded.rejected,
    first_seen = least(c.first_seen, excluded.first_seen),
    last_seen = greatest(c.last_seen, excluded.last_seen);
  RETURN outcome;
END
$$;
