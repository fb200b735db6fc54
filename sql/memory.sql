-- Memory bounds: builds and scans stay within maintenance_work_mem and
-- work_mem (times the scan_mem_multiplier GUCs), whatever the data and
-- however stale the table's statistics.
SET enable_seqscan = off;

-- Unclustered rows: hashes of (row, coordinate).
CREATE TABLE mem (id int, v vector(8), cat int) WITH (autovacuum_enabled = off);
INSERT INTO mem
SELECT i, ARRAY(SELECT (hashint4(i * 8 + j) % 1000) / 1000.0 FROM generate_series(1, 8) j)::vector, 0
FROM generate_series(1, 20000) i;
-- cat = 1 only far from the origin, where the queries below are
UPDATE mem SET cat = 1 WHERE v <-> '[0,0,0,0,0,0,0,0]' > 1.6;
VACUUM mem;

-- exact_misses(k): how many of the index's first k rows nearest the
-- origin under WHERE cat = 1 lie farther than the exact k-th distance,
-- plus how many rows short of k it came back.
CREATE FUNCTION exact_misses(k int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	kth float8;
	far bigint;
	got bigint;
BEGIN
	SET LOCAL enable_indexscan = off;
	SET LOCAL enable_seqscan = on;
	SELECT max(d) INTO kth FROM (SELECT v <-> '[0,0,0,0,0,0,0,0]' AS d FROM mem WHERE cat = 1
								 ORDER BY 1 LIMIT k) s;
	SET LOCAL enable_indexscan = on;
	SET LOCAL enable_seqscan = off;
	SELECT count(*) FILTER (WHERE d > kth), count(*) INTO far, got
	FROM (SELECT v <-> '[0,0,0,0,0,0,0,0]' AS d FROM mem WHERE cat = 1
		  ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT k) s;
	RETURN far + (k - got);
END $$;

-- hnsw build: statistics that say the table is nearly empty (as after a
-- bulk load into a table analysed when small) start the serial build
-- with a small arena; it grows as the rows come, so the graph is built in
-- memory (no NOTICE that it no longer fits) and is whole.
UPDATE pg_class SET reltuples = 1, relpages = 100000 WHERE oid = 'mem'::regclass;
SET max_parallel_maintenance_workers = 0;
CREATE INDEX mem_hnsw ON mem USING hnsw (v vector_l2_ops, cat);
SELECT ann_check_index('mem_hnsw', true);
-- at maintenance_work_mem the arena stops growing, and says so
UPDATE pg_class SET reltuples = 1, relpages = 100000 WHERE oid = 'mem'::regclass;
SET maintenance_work_mem = '1MB';
CREATE INDEX mem_hnsw_small ON mem USING hnsw (v vector_l2_ops, cat);
SELECT ann_check_index('mem_hnsw_small', true);
DROP INDEX mem_hnsw_small;
RESET maintenance_work_mem;

-- hnsw filtered scan: the matching rows lie behind many that do not, so
-- the graph search goes over its budget.  With room for the list of
-- matches the scan answers from it exactly; with work_mem too small for
-- that list it goes on through the graph instead, within its memory.
SET work_mem = '4MB';
SELECT exact_misses(20);
SET work_mem = '64kB';
SELECT exact_misses(20);
RESET work_mem;
DROP INDEX mem_hnsw;

-- spann: an iterative scan stops probing lists once the rows it found
-- and returned take work_mem times spann.scan_mem_multiplier, says so,
-- and returns every row when the memory allows.
CREATE INDEX mem_spann ON mem USING spann (v vector_l2_ops) WITH (lists = 50);
SET spann.iterative_scan = relaxed_order;
SET work_mem = '64kB';
SELECT count(*) < 20000 AS stopped_short
FROM (SELECT id FROM mem ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 20000) s;
SET spann.scan_mem_multiplier = 100;
SELECT count(DISTINCT id) AS all_rows
FROM (SELECT id FROM mem ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 20000) s;
SET spann.scan_mem_multiplier = 0.5;
RESET spann.scan_mem_multiplier;
-- A filter the executor applies to 1 row in 400: the scan reranks nearly
-- every row to find 50 that pass, and remembers each (a row sits in
-- several lists and is returned once).  Those TIDs are kept as bitmaps
-- of runs of a heap page's line pointers, so that fits in 512kB; with a
-- hash entry per TID it took 1MB, and the scan returned 22 rows.
SET work_mem = '512kB';
SELECT count(*) AS all_50
FROM (SELECT id FROM mem WHERE id % 400 = 0 ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 50) s;
-- strict_order under the same budget returns every row, in exact order,
-- and says nothing: when the rows it holds reach the limit it keeps the
-- nearest, drops the others as it meets them, and once it has returned
-- the rows it kept probes every list again for the rest (it used to stop
-- short).  wrong counts ranks whose distance is not the exact scan's;
-- fifty rows copied twenty times each give ties across the passes.
SET spann.iterative_scan = strict_order;
INSERT INTO mem SELECT 100000 + id * 100 + i, v, cat FROM mem, generate_series(1, 20) i WHERE id <= 50;
CREATE FUNCTION strict_order_wrong(q vector, k int, only_cat1 bool)
RETURNS TABLE (got bigint, distinct_rows bigint, wrong bigint) LANGUAGE plpgsql AS $$
BEGIN
	SET LOCAL enable_seqscan = off;
	CREATE TEMP TABLE by_index AS
	SELECT row_number() OVER () AS rank, id, d
	FROM (SELECT id, v <-> q AS d FROM mem WHERE cat = 1 OR NOT only_cat1 ORDER BY v <-> q LIMIT k) s;
	SET LOCAL enable_indexscan = off;
	SET LOCAL enable_seqscan = on;
	SET LOCAL work_mem = '16MB';
	CREATE TEMP TABLE exact AS
	SELECT row_number() OVER () AS rank, d
	FROM (SELECT v <-> q AS d FROM mem WHERE cat = 1 OR NOT only_cat1 ORDER BY v <-> q, id LIMIT k) s;
	RETURN QUERY SELECT (SELECT count(*) FROM by_index), (SELECT count(DISTINCT id) FROM by_index),
		(SELECT count(*) FROM by_index i JOIN exact e USING (rank) WHERE abs(i.d - e.d) > 1e-6);
	DROP TABLE by_index, exact;
END $$;
SET work_mem = '64kB';
SELECT * FROM strict_order_wrong('[0.1,0.9,0.3,0.7,0.5,0.2,0.8,0.4]', 21000, false);
SELECT * FROM strict_order_wrong('[0,0,0,0,0,0,0,0]', 2000, true);
SELECT * FROM strict_order_wrong((SELECT v FROM mem WHERE id = 7), 3000, false);
-- an index of so many lists that they alone take the budget: it stops
-- short and says so, every row it returned one of the exact nearest
-- (far counts rows farther than the exact 2000th)
SET enable_indexscan = off;
SET enable_seqscan = on;
CREATE TEMP TABLE mem_kth AS
SELECT max(d) AS kth FROM (SELECT v <-> '[0.1,0.9,0.3,0.7,0.5,0.2,0.8,0.4]' AS d FROM mem ORDER BY 1 LIMIT 2000) s;
RESET enable_indexscan;
SET enable_seqscan = off;
CREATE INDEX mem_spann_many ON mem USING spann (v vector_l2_ops) WITH (lists = 2000);
SELECT count(*) < 2000 AS stopped_short, count(*) FILTER (WHERE d > (SELECT kth FROM mem_kth)) AS far
FROM (SELECT v <-> '[0.1,0.9,0.3,0.7,0.5,0.2,0.8,0.4]' AS d FROM mem
	  ORDER BY v <-> '[0.1,0.9,0.3,0.7,0.5,0.2,0.8,0.4]' LIMIT 2000) s;
DROP INDEX mem_spann_many;
RESET work_mem;
-- spann.max_probes ends it short likewise
SET spann.max_probes = 3;
SELECT count(*) < 2000 AS stopped_short, count(*) FILTER (WHERE d > (SELECT kth FROM mem_kth)) AS far
FROM (SELECT v <-> '[0.1,0.9,0.3,0.7,0.5,0.2,0.8,0.4]' AS d FROM mem
	  ORDER BY v <-> '[0.1,0.9,0.3,0.7,0.5,0.2,0.8,0.4]' LIMIT 2000) s;
RESET spann.max_probes;
-- without a budget: all 2000, none far
SELECT count(*) AS all_rows, count(*) FILTER (WHERE d > (SELECT kth FROM mem_kth)) AS far
FROM (SELECT v <-> '[0.1,0.9,0.3,0.7,0.5,0.2,0.8,0.4]' AS d FROM mem
	  ORDER BY v <-> '[0.1,0.9,0.3,0.7,0.5,0.2,0.8,0.4]' LIMIT 2000) s;
DROP TABLE mem_kth;
RESET spann.iterative_scan;

DROP TABLE mem;
DROP FUNCTION exact_misses(int);
DROP FUNCTION strict_order_wrong(vector, int, bool);
