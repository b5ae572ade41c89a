-- Fibonacci cursor: one row, the index only (values are derived exactly at start-up).
CREATE TABLE fib_state (
  id  INTEGER PRIMARY KEY CHECK (id = 1),
  idx INTEGER NOT NULL CHECK (idx >= 0)
) STRICT;
INSERT INTO fib_state (id, idx) VALUES (1, 0);
