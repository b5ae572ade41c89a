-- pexd:foreign_keys=off
-- Widgets stored in serial-number order (WITHOUT ROWID, primary key serial_number), so reading a
-- widget by serial number is one B-tree descent to the row with its name and id, where the rowid
-- table of 0002_widgets.sql took two (the serial-number index, then the row). The id stays, unique,
-- as the compact key the slots refer to: slots, their constraints and the trigger are unchanged.
-- The table is rebuilt (SQLite's documented procedure: foreign keys off for this migration, then
-- `PRAGMA foreign_key_check` before its COMMIT; see migrate() in src/storage/sqlite/db.ts).
CREATE TABLE widgets_by_serial_number (
  serial_number TEXT    NOT NULL CHECK (length(serial_number) BETWEEN 1 AND 128),
  id            INTEGER NOT NULL,
  name          TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
  CONSTRAINT widgets_serial_number_key PRIMARY KEY (serial_number)
) STRICT, WITHOUT ROWID;
-- A named index rather than a UNIQUE constraint: SQLite then reads a partner's serial number from
-- the index alone (its entries carry the primary key); through the constraint's automatic index it
-- also descended into the table (EXPLAIN: an extra NotFound seek).
CREATE UNIQUE INDEX widgets_id_key ON widgets_by_serial_number (id);

-- In key order: the table is appended to.
INSERT INTO widgets_by_serial_number (serial_number, id, name)
SELECT serial_number, id, name FROM widgets ORDER BY serial_number;

DROP TABLE widgets;
-- widget_slots refers to "widgets" by name: after the rename its foreign key (widget_id →
-- widgets.id, ON DELETE CASCADE) resolves to this table's unique id.
ALTER TABLE widgets_by_serial_number RENAME TO widgets;
