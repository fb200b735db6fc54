-- ivfflat: pgvector's access method name, a spann index with pgvector's
-- reloption and GUCs.  With every list probed each opclass returns the
-- exact answer; the ivfflat.* GUCs (not spann.*) steer its scans.
-- Uses the helpers hnsw_vector created (misses, hnsw_queries).
SET enable_seqscan = off;
CREATE TABLE iv (id int, v vector(4));
INSERT INTO iv SELECT i, ARRAY[(i * 7) % 31, (i * 13) % 37, (i * 17) % 41, (i * 3) % 11]
FROM generate_series(1, 500) i;
INSERT INTO iv VALUES (501, NULL);

-- pgvector's documented form
CREATE INDEX iv_l2 ON iv USING ivfflat (v vector_l2_ops) WITH (lists = 10);
SELECT pg_get_indexdef('iv_l2'::regclass);
EXPLAIN (COSTS OFF) SELECT id FROM iv ORDER BY v <-> '[1,2,3,4]' LIMIT 5;
SELECT lists, entries >= 500 AS all_entries FROM spann_index_stats('iv_l2');
SELECT ann_check_index('iv_l2', true);

-- ivfflat.probes (default 1) and ivfflat.iterative_scan (default off):
-- one list's rows, then every row; spann's GUCs do not apply
SHOW ivfflat.probes;
SHOW ivfflat.iterative_scan;
SET spann.probes = 1000;
SET spann.iterative_scan = strict_order;
SELECT count(*) < 500 AS one_list_only FROM (SELECT id FROM iv ORDER BY v <-> '[1,1,1,1]' LIMIT 600) s;
SET ivfflat.iterative_scan = relaxed_order;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM iv ORDER BY v <-> '[1,1,1,1]' LIMIT 600) s;
-- ivfflat.max_probes stops the iterative scan, and says so
SET ivfflat.max_probes = 1;
SELECT count(*) < 500 AS stopped FROM (SELECT id FROM iv ORDER BY v <-> '[1,1,1,1]' LIMIT 600) s;
RESET ivfflat.max_probes;
RESET ivfflat.iterative_scan;
RESET spann.probes;
RESET spann.iterative_scan;

-- every list probed: exact, for each opclass
SET ivfflat.probes = 1000;
SELECT misses('iv', '<->', 10) AS l2_misses;
DROP INDEX iv_l2;
CREATE INDEX iv_ip ON iv USING ivfflat (v vector_ip_ops) WITH (lists = 10);
SELECT misses('iv', '<#>', 10) AS ip_misses;
DROP INDEX iv_ip;
CREATE INDEX iv_cos ON iv USING ivfflat (v vector_cosine_ops) WITH (lists = 10);
SELECT misses('iv', '<=>', 10, 1e-6) AS cosine_misses;
DROP INDEX iv_cos;
-- the default opclass, and lists at its default (100)
CREATE INDEX iv_idx ON iv USING ivfflat (v);
SELECT lists <= 100 AS lists FROM spann_index_stats('iv_idx');

-- inserts, deletes and VACUUM
INSERT INTO iv SELECT i, ARRAY[(i * 11) % 29, (i * 5) % 23, (i * 19) % 43, (i * 2) % 13]
FROM generate_series(502, 1500) i;
DELETE FROM iv WHERE id % 5 = 0;
VACUUM iv;
SELECT ann_check_index('iv_idx', true);
SELECT misses('iv', '<->', 10) AS l2_misses_after_changes;

-- halfvec
CREATE TABLE ih (id int, v halfvec(4));
INSERT INTO ih SELECT id, v::halfvec FROM iv;
CREATE INDEX ON ih USING ivfflat (v halfvec_l2_ops) WITH (lists = 5);
CREATE INDEX ih_cos ON ih USING ivfflat (v halfvec_cosine_ops) WITH (lists = 5);
SELECT misses('ih', '<->', 10) AS half_l2_misses, misses('ih', '<=>', 10, 1e-3) AS half_cosine_misses;
DROP INDEX ih_cos;
CREATE INDEX ON ih USING ivfflat (v halfvec_ip_ops) WITH (lists = 5);
SELECT misses('ih', '<#>', 10) AS half_ip_misses;
RESET ivfflat.probes;

-- built on an empty table, then loaded (a common pgvector recipe): the
-- index grows to about the lists asked for, not into lists of a few rows,
-- so pgvector's defaults (probes 1, no iterative scan) still fill a LIMIT
-- (a temporary table: VACUUM removes the deleted rows whatever other
-- sessions see, and autovacuum leaves it alone)
CREATE TEMP TABLE ie (id int, v vector(8));
CREATE INDEX ie_v ON ie USING ivfflat (v) WITH (lists = 20);
SELECT lists, list_limit FROM spann_index_stats('ie_v');
INSERT INTO ie SELECT i, ARRAY[(i * 7) % 31, (i * 11) % 37, (i * 13) % 41, (i * 17) % 43,
  (i * 19) % 47, (i * 23) % 53, (i * 29) % 59, (i * 31) % 61] FROM generate_series(1, 5000) i;
SELECT lists BETWEEN 20 AND 40 AS about_20_lists FROM spann_index_stats('ie_v');
RESET ivfflat.probes;
RESET ivfflat.iterative_scan;
SELECT count(*) AS limit_100 FROM (SELECT id FROM ie ORDER BY v <-> '[15,18,20,21,23,26,29,30]' LIMIT 100) s;
DELETE FROM ie WHERE id % 100 <> 0;
VACUUM ie;
SELECT lists < 20 AS merged_lists FROM spann_index_stats('ie_v');
SELECT ann_check_index('ie_v', true);
DROP TABLE ie;

-- Uniform random vectors in many dimensions, 50 lists: two levels of
-- k-means, whose second level used to leave lists of a few rows (8 to
-- 80 rows here), so that a one-list probe, ivfflat's default, returned
-- fewer than 10 rows for LIMIT 10.  Where the centres are all about
-- equally far from every point, a cluster under a quarter of the mean
-- size now takes half of the largest.
SELECT setseed(0.7);
CREATE TABLE iu (id int, v vector(256)) WITH (autovacuum_enabled = off);
INSERT INTO iu SELECT i, (SELECT array_agg(random() - 0.5) FROM generate_series(1, 256 + i * 0))::vector
	FROM generate_series(1, 3000) i;
CREATE INDEX ON iu USING ivfflat (v vector_l2_ops) WITH (lists = 50);
SET enable_seqscan = off;
SELECT min(n) >= 20 AS no_small_list, count(*) FILTER (WHERE n < 10) AS short_answers
FROM (SELECT (SELECT count(*) FROM (SELECT 1 FROM iu ORDER BY v <-> q.v LIMIT 3000) r) AS n
	  FROM iu q) s;
RESET enable_seqscan;
DROP TABLE iu;

-- bad input
\set VERBOSITY sqlstate
CREATE INDEX ON iv USING ivfflat (v) WITH (lists = 0);
CREATE INDEX ON iv USING ivfflat (v) WITH (lists = 32769);
CREATE INDEX ON iv USING ivfflat (v) WITH (epsilon = 1);
CREATE INDEX ON iv USING ivfflat (v vector_l1_ops);
SET ivfflat.iterative_scan = strict_order;
SET ivfflat.probes = 0;
SET ivfflat.max_probes = 0;
\set VERBOSITY default

DROP TABLE iv, ih;
