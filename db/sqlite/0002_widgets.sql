-- Widgets (SPEC §2). The invariants live in the schema, not only in code:
--  * serial numbers are unique (the constraint name is part of the 409 body clients match on);
--  * a slot has a port type P/R/Q and an ordinal 0..2 (so at most 3 slots, kept in creation order);
--  * an association is stored on both sides as slot -> partner; UNIQUE(widget_id, port, partner_id)
--    allows one association per pair and port type, and the deferred self-referencing foreign key
--    makes every reference symmetric by COMMIT time (a one-sided association cannot be committed);
--  * removing a widget cascades to its slots, and the trigger frees the partners' slots.
CREATE TABLE widgets (
  id            INTEGER PRIMARY KEY,
  serial_number TEXT NOT NULL CHECK (length(serial_number) BETWEEN 1 AND 128),
  name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
  CONSTRAINT widgets_serial_number_key UNIQUE (serial_number)
) STRICT;

CREATE TABLE widget_slots (
  widget_id  INTEGER NOT NULL REFERENCES widgets (id) ON DELETE CASCADE,
  ordinal    INTEGER NOT NULL CHECK (ordinal BETWEEN 0 AND 2),
  port       TEXT    NOT NULL CHECK (port IN ('P', 'R', 'Q')),
  partner_id INTEGER CHECK (partner_id IS NULL OR partner_id <> widget_id),
  PRIMARY KEY (widget_id, ordinal),
  CONSTRAINT widget_slots_pair_port_key UNIQUE (widget_id, port, partner_id),
  CONSTRAINT widget_slots_symmetric FOREIGN KEY (partner_id, port, widget_id)
    REFERENCES widget_slots (widget_id, port, partner_id) DEFERRABLE INITIALLY DEFERRED
) STRICT, WITHOUT ROWID;

-- A removed slot (its widget was removed) frees the partner's matching slot.
CREATE TRIGGER widget_slots_free_partner AFTER DELETE ON widget_slots
WHEN OLD.partner_id IS NOT NULL
BEGIN
  UPDATE widget_slots SET partner_id = NULL
  WHERE widget_id = OLD.partner_id AND port = OLD.port AND partner_id = OLD.widget_id;
END;

-- The widget count, maintained in the same transactions, so start-up never scans 10M rows.
CREATE TABLE widget_counters (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  count INTEGER NOT NULL CHECK (count >= 0)
) STRICT;
INSERT INTO widget_counters (id, count) VALUES (1, 0);
