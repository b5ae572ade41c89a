-- Widget mutations as one function call: the adapter (src/storage/postgres/widget.postgres.ts)
-- sends the mutations of one event-loop turn as one batch, which runs as one statement, so one
-- round trip and one commit (one WAL flush) serve every caller of the batch.
--
-- widget_apply(kinds, xs, ys, zs): operation i is
--   kinds[i] = 'A' add         xs[i] serial number, ys[i] name, zs[i] slot types in order ('', 'P', 'PRQ')
--   kinds[i] = 'R' remove      xs[i] serial number
--   kinds[i] = 'S' associate   xs[i], ys[i] serial numbers, zs[i] port type
--   kinds[i] = 'D' dissociate  xs[i], ys[i] serial numbers, zs[i] port type
-- and the result's element i says how it went:
--   0 done, 1 duplicate, 2 xs[i] not found, 3 ys[i] not found, 4 association not found,
--   5 already associated, 6 no free slot on xs[i], 7 no free slot on ys[i], 8 self-association.
-- A refused operation changes nothing (each one checks before it writes), so refusals need no
-- subtransaction; an exception (a broken constraint) aborts the whole batch, and the adapter then
-- runs its operations one by one.
--
-- Concurrency (READ COMMITTED, any number of connections and instances): a mutation holds the row
-- locks of the widgets whose slots it changes, and reads the slots only once it holds them. The
-- batch first locks, in one statement and in id order, every existing widget it names and the
-- partners of the widgets it removes, so two batches wait on each other in one order instead of
-- deadlocking; each operation then locks its own widgets again (a no-op when already held, and
-- what makes an operation correct on a widget that appeared after that first step). The few
-- deadlocks left (two batches adding the same serial number, a partner associated in between)
-- are retried by the adapter.
--
-- plan_cache_mode: the statements below are index lookups whose generic plans are as good as any;
-- left to choose, PostgreSQL keeps re-planning those whose estimate depends on the arrays' length
-- (measured: the lock step re-planned on every call, ~0.5 ms).
CREATE FUNCTION widget_apply(kinds text[], xs text[], ys text[], zs text[]) RETURNS int[]
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  ops   int := coalesce(array_length(kinds, 1), 0);
  codes int[] := array_fill(0, ARRAY[ops]);
  delta bigint := 0;
  k     text;
  x     text;
  y     text;
  z     text;
  a     bigint;
  b     bigint;
  oa    smallint;
  ob    smallint;
  dup   boolean;
  r     record;
BEGIN
  -- Adds lock nothing that exists, and a lone associate / dissociate locks its two widgets in id
  -- order by itself: the first step is needed when two or more operations lock, or one removes.
  IF 'R' = ANY (kinds) OR (SELECT count(*) FROM unnest(kinds) AS o(k) WHERE o.k <> 'A') > 1 THEN
    PERFORM 1 FROM widgets w
    WHERE w.id IN (
      SELECT v.id FROM widgets v
      WHERE v.serial_number IN (
        SELECT o.x FROM unnest(kinds, xs) AS o(k, x) WHERE o.k <> 'A'
        UNION ALL
        SELECT o.y FROM unnest(kinds, ys) AS o(k, y) WHERE o.k IN ('S', 'D'))
      UNION ALL
      SELECT s.partner_id FROM widgets v JOIN widget_slots s ON s.widget_id = v.id
      WHERE v.serial_number IN (SELECT o.x FROM unnest(kinds, xs) AS o(k, x) WHERE o.k = 'R')
        AND s.partner_id IS NOT NULL)
    ORDER BY w.id
    FOR UPDATE;
  END IF;

  FOR i IN 1 .. ops LOOP
    k := kinds[i];
    x := xs[i];
    y := ys[i];
    z := zs[i];
    IF k = 'A' THEN
      INSERT INTO widgets (serial_number, name) VALUES (x, y)
      ON CONFLICT ON CONSTRAINT widgets_serial_number_key DO NOTHING
      RETURNING id INTO a;
      IF NOT FOUND THEN
        codes[i] := 1;
        CONTINUE;
      END IF;
      IF z <> '' THEN
        INSERT INTO widget_slots (widget_id, ordinal, port)
        SELECT a, o - 1, substr(z, o, 1) FROM generate_series(1, length(z)) AS o;
      END IF;
      delta := delta + 1;

    ELSIF k = 'R' THEN
      -- CASCADE deletes the slots, SET NULL frees the partners' slots.
      DELETE FROM widgets WHERE serial_number = x;
      IF NOT FOUND THEN
        codes[i] := 2;
        CONTINUE;
      END IF;
      delta := delta - 1;

    ELSIF k = 'S' OR k = 'D' THEN
      IF x = y THEN
        codes[i] := 8;
        CONTINUE;
      END IF;
      a := NULL;
      b := NULL;
      FOR r IN SELECT w.id, w.serial_number AS sn FROM widgets w WHERE w.serial_number IN (x, y) ORDER BY w.id FOR UPDATE LOOP
        IF r.sn = x THEN a := r.id; ELSE b := r.id; END IF;
      END LOOP;
      IF a IS NULL THEN
        codes[i] := 2;
        CONTINUE;
      END IF;
      IF b IS NULL THEN
        codes[i] := 3;
        CONTINUE;
      END IF;

      IF k = 'D' THEN
        UPDATE widget_slots SET partner_id = NULL WHERE widget_id = a AND port = z AND partner_id = b;
        IF NOT FOUND THEN
          codes[i] := 4;
          CONTINUE;
        END IF;
        UPDATE widget_slots SET partner_id = NULL WHERE widget_id = b AND port = z AND partner_id = a;
        CONTINUE;
      END IF;

      -- Associate: the first free slot of that type on each side, in creation order.
      oa := NULL;
      ob := NULL;
      dup := false;
      FOR r IN SELECT s.widget_id, s.ordinal, s.partner_id FROM widget_slots s
               WHERE s.widget_id IN (a, b) AND s.port = z ORDER BY s.ordinal LOOP
        IF r.widget_id = a THEN
          IF r.partner_id = b THEN
            dup := true;
          ELSIF r.partner_id IS NULL AND oa IS NULL THEN
            oa := r.ordinal;
          END IF;
        ELSIF r.partner_id IS NULL AND ob IS NULL THEN
          ob := r.ordinal;
        END IF;
      END LOOP;
      IF dup THEN
        codes[i] := 5;
      ELSIF oa IS NULL THEN
        codes[i] := 6;
      ELSIF ob IS NULL THEN
        codes[i] := 7;
      ELSE
        UPDATE widget_slots SET partner_id = b WHERE widget_id = a AND ordinal = oa;
        UPDATE widget_slots SET partner_id = a WHERE widget_id = b AND ordinal = ob;
      END IF;

    ELSE
      RAISE EXCEPTION 'widget_apply: unknown operation %', k USING ERRCODE = '22023';
    END IF;
  END LOOP;

  -- The count, in the same transaction: one row of 64, picked by backend, once per batch.
  IF delta <> 0 THEN
    UPDATE widget_counts SET n = n + delta WHERE shard = pg_backend_pid() % 64;
  END IF;
  RETURN codes;
END
$$;

-- The widget count: 64 rows, never a scan of widgets.
CREATE FUNCTION widget_count() RETURNS bigint
LANGUAGE sql STABLE AS $$ SELECT coalesce(sum(n), 0)::bigint FROM widget_counts $$;
