-- An ordered ann index scan does not compute again the distance of the
-- rows it returns when nothing reads it: the planner's junk column for the
-- ORDER BY expression becomes a null constant (EXPLAIN VERBOSE shows
-- NULL::double precision).  Where something reads it, it stays.
SET enable_seqscan = off;
SET hnsw.ef_search = 600;   -- every element: the index's answers are exact
SET spann.probes = 4;       -- every list
CREATE TABLE ud (id int, e vector(3), part int);
INSERT INTO ud SELECT i, ARRAY[sin(i), cos(i * 7), sin(i * 13)]::real[]::vector, i % 2
  FROM generate_series(1, 500) i;
-- three copies of one vector, for WITH TIES
INSERT INTO ud VALUES (501, '[5,5,5]', 0), (502, '[5,5,5]', 1), (503, '[5,5,5]', 0);
CREATE INDEX ud_hnsw ON ud USING hnsw (e vector_l2_ops);

-- the statement's own rows, a subplan's, a subquery scan's, a LATERAL's
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM ud ORDER BY e <-> '[1,0,0]' LIMIT 5;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT g, (SELECT id FROM ud ORDER BY e <-> ARRAY[g, 0, 0]::real[]::vector LIMIT 1)
  FROM generate_series(1, 2) g;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT s.id FROM (SELECT id, e <-> '[1,0,0]' AS d FROM ud ORDER BY d LIMIT 5) s;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT g, s.id FROM generate_series(1, 2) g
  CROSS JOIN LATERAL (SELECT id FROM ud ORDER BY e <-> ARRAY[g, 0, 0]::real[]::vector LIMIT 2) s;

-- read, so kept: selected, WITH TIES, a sort above, a subquery's column read
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT id, e <-> '[1,0,0]' FROM ud ORDER BY e <-> '[1,0,0]' LIMIT 5;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT id FROM ud ORDER BY e <-> '[5,5,5]' FETCH FIRST 1 ROWS WITH TIES;
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT s.id FROM (SELECT id, e <-> '[1,0,0]' AS d FROM ud ORDER BY d LIMIT 5) s ORDER BY d DESC;

-- the rows of an exact sort (ORDER BY ... + 0 is no index order)
SELECT (SELECT array_agg(id) FROM (SELECT id FROM ud ORDER BY e <-> '[1,0,0]' LIMIT 50) a) =
       (SELECT array_agg(id) FROM (SELECT id FROM ud ORDER BY (e <-> '[1,0,0]') + 0 LIMIT 50) b)
  AS exact_rows;
SELECT id FROM ud ORDER BY e <-> '[5,5,5]' FETCH FIRST 1 ROWS WITH TIES;
SELECT count(*) FROM (SELECT s.id, d FROM (SELECT id, e <-> '[1,0,0]' AS d FROM ud ORDER BY d LIMIT 20) s
  ORDER BY d DESC) r WHERE d IS NULL;
-- a query of the wrong dimension still fails
SELECT id FROM ud ORDER BY e <-> '[1,0]' LIMIT 5;

-- the whole row of a subquery reads every column: its distance stays
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT s FROM (SELECT id, e <-> '[1,0,0]' AS d FROM ud ORDER BY e <-> '[1,0,0]' LIMIT 3) s;
SELECT count(*) AS null_distances
  FROM (SELECT s FROM (SELECT id, e <-> '[1,0,0]' AS d FROM ud ORDER BY e <-> '[1,0,0]' LIMIT 5) s) r
  WHERE (r.s).d IS NULL;
-- ordered by the whole row, (d, id): the ten nearest, farthest first
SELECT (SELECT array_agg(id) FROM (SELECT s.id FROM (SELECT e <-> '[1,0,0]' AS d, id FROM ud
                                                     ORDER BY e <-> '[1,0,0]' LIMIT 10) s
                                   ORDER BY s DESC) a) =
       (SELECT array_agg(id) FROM (SELECT id, d FROM (SELECT id, (e <-> '[1,0,0]') + 0 AS d FROM ud
                                                      ORDER BY 2 LIMIT 10) x
                                   ORDER BY d DESC) b) AS whole_row_order;
-- a distance that overflows fails as the operator does, through hnsw
-- and spann, though the executor does not compute it
INSERT INTO ud VALUES (504, '[1e30,1e30,1e30]', 0);
SELECT id FROM ud ORDER BY e <-> '[-1e30,-1e30,-1e30]' LIMIT 1;
CREATE INDEX ud_spann ON ud USING spann (e vector_l2_ops) WITH (lists = 4);
SELECT id FROM ud ORDER BY e <-> '[-1e30,-1e30,-1e30]' LIMIT 1;
DROP INDEX ud_spann;
DELETE FROM ud WHERE id = 504;

-- partitions: Merge Append orders by the column, which stays
CREATE TABLE udp (id int, e vector(3), part int) PARTITION BY LIST (part);
CREATE TABLE udp0 PARTITION OF udp FOR VALUES IN (0);
CREATE TABLE udp1 PARTITION OF udp FOR VALUES IN (1);
INSERT INTO udp SELECT * FROM ud;
CREATE INDEX ON udp USING spann (e vector_l2_ops) WITH (lists = 4);
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM udp ORDER BY e <-> '[1,0,0]' LIMIT 5;
SELECT (SELECT array_agg(id) FROM (SELECT id FROM udp ORDER BY e <-> '[1,0,0]' LIMIT 20) a) =
       (SELECT array_agg(id) FROM (SELECT id FROM ud ORDER BY (e <-> '[1,0,0]') + 0 LIMIT 20) b)
  AS partitions_exact;
-- one partition through spann: its column goes unread
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM udp1 ORDER BY e <-> '[1,0,0]' LIMIT 5;

DROP TABLE ud, udp;
RESET enable_seqscan;
RESET hnsw.ef_search;
RESET spann.probes;
