-- The counter's steps applied inside the database, so one statement takes the row's lock, applies a
-- whole batch of one instance's steps and commits: N instances hand out every index exactly once.
-- Steps: 'n' next (capped at 2^53 − 1), 'p' previous (stops at 0), 'r' reset, '=<n>' set.
CREATE FUNCTION pexd_fib_steps(start bigint, steps text[]) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  i bigint := start;
  s text;
BEGIN
  FOREACH s IN ARRAY steps LOOP
    IF s = 'n' THEN
      IF i < 9007199254740991 THEN i := i + 1; END IF;
    ELSIF s = 'p' THEN
      IF i > 0 THEN i := i - 1; END IF;
    ELSIF s = 'r' THEN
      i := 0;
    ELSIF s LIKE '=%' THEN
      i := substr(s, 2)::bigint;
    ELSE
      RAISE EXCEPTION 'unknown counter step %', s;
    END IF;
  END LOOP;
  RETURN i;
END
$$;

-- One batch: takes the row's lock, applies the steps and returns the index they started from. The
-- transaction commits without waiting for its log flush (synchronous_commit off, for this
-- transaction only), so the row's lock is free again at once; the caller then waits for the flush
-- in a second transaction (pg_current_xact_id(): its synchronous commit flushes the log past this
-- one) and answers only after that. The next batch, from any instance, no longer queues behind
-- this one's fsync, and nothing is acknowledged before it is durable.
CREATE FUNCTION pexd_fib_apply(steps text[]) RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT AS $$
DECLARE
  start bigint;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT idx INTO start FROM fib_state WHERE id = 1 FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'fib_state has no row';
  END IF;
  UPDATE fib_state SET idx = pexd_fib_steps(start, steps) WHERE id = 1;
  RETURN start;
END
$$;

-- The relay watcher's progress (the last block every target acknowledged), so the instance that
-- takes the watcher over resumes after it instead of skipping what was mined meanwhile.
CREATE TABLE relay_watcher_progress (
  id         smallint PRIMARY KEY CHECK (id = 1),
  last_block bigint NOT NULL CHECK (last_block >= 0),
  at         timestamptz NOT NULL DEFAULT now()
);
