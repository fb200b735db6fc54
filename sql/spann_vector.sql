-- spann on vector: with every list probed, each opclass returns the exact
-- answer, before and after inserts (which split lists), deletes and
-- VACUUM; iterative scans, empty and tiny tables, options and errors.
-- Uses the helpers hnsw_vector created (misses, hnsw_queries).
SET enable_seqscan = off;
SET spann.probes = 65536;
CREATE TABLE sv (id int, v vector(4));
INSERT INTO sv SELECT i, ARRAY[(i * 7) % 31, (i * 13) % 37, (i * 17) % 41, (i * 3) % 11]
FROM generate_series(1, 500) i;
INSERT INTO sv VALUES (501, NULL), (502, '[0,0,0,0]');

-- each opclass
CREATE INDEX sv_l2 ON sv USING spann (v vector_l2_ops) WITH (lists = 10);
EXPLAIN (COSTS OFF) SELECT id FROM sv ORDER BY v <-> '[1,2,3,4]' LIMIT 5;
SELECT lists, entries >= 501 AS all_entries, splits, merges FROM spann_index_stats('sv_l2');
-- the directory: the metapage, at least one group page and the centroid pages
SELECT directory_pages >= 3 AS directory, directory_pages < pg_relation_size('sv_l2') / 8192 AS part
FROM spann_index_stats('sv_l2');
SELECT misses('sv', '<->', 10) AS l2_misses, misses('sv', '<->', 100) AS l2_misses_100;
SELECT id, v, v <-> '[3,1,4,1]' AS d FROM sv ORDER BY v <-> '[3,1,4,1]' LIMIT 3;
DROP INDEX sv_l2;
CREATE INDEX sv_ip ON sv USING spann (v vector_ip_ops) WITH (lists = 10);
SELECT misses('sv', '<#>', 10) AS ip_misses;
DROP INDEX sv_ip;
CREATE INDEX sv_cos ON sv USING spann (v vector_cosine_ops) WITH (lists = 10);
SELECT misses('sv', '<=>', 10, 1e-6) AS cosine_misses;
-- a zero vector has no direction: not indexed under cosine
SELECT count(*) FILTER (WHERE id = 502) AS zero_returned, count(*)
FROM (SELECT id FROM sv ORDER BY v <=> '[1,1,1,1]' LIMIT 600) s;
DROP INDEX sv_cos;
CREATE INDEX sv_l1 ON sv USING spann (v vector_l1_ops) WITH (lists = 10);
SELECT misses('sv', '<+>', 10) AS l1_misses;
DROP INDEX sv_l1;

-- the default number of lists comes from the row count; every row is
-- returned once however many lists hold it
CREATE INDEX sv_idx ON sv USING spann (v) WITH (epsilon = 1, replicas = 4);
SELECT lists, entries > 501 AS replicated FROM spann_index_stats('sv_idx');
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM sv ORDER BY v <-> '[1,1,1,1]' LIMIT 1000) s;

-- inserts grow lists past their limit and split them
INSERT INTO sv SELECT i, ARRAY[(i * 11) % 29, (i * 5) % 23, (i * 19) % 43, (i * 2) % 13]
FROM generate_series(503, 1500) i;
SELECT lists > 22 AS more_lists, splits > 0 AS split FROM spann_index_stats('sv_idx');
SELECT misses('sv', '<->', 10) AS misses_after_insert;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM sv ORDER BY v <-> '[1,1,1,1]' LIMIT 2000) s;

-- deletes and VACUUM: dead rows are gone, shrunken lists merge away
DELETE FROM sv WHERE id % 4 = 1 OR id > 1000;
VACUUM sv;
SELECT misses('sv', '<->', 10) AS misses_after_vacuum;
SELECT count(*) FILTER (WHERE id % 4 = 1 OR id > 1000) AS dead_returned, count(*)
FROM (SELECT id FROM sv ORDER BY v <-> '[1,1,1,1]' LIMIT 2000) s;
SELECT merges > 0 AS merged, unreachable_pages FROM spann_index_stats('sv_idx');
-- the freed pages are reused by the next inserts
VACUUM sv;
SELECT pg_relation_size('sv_idx') AS size_before \gset
INSERT INTO sv SELECT i, ARRAY[(i * 3) % 29, (i * 7) % 23, (i * 5) % 43, i % 13]
FROM generate_series(2001, 2300) i;
SELECT pg_relation_size('sv_idx') = :size_before AS space_reused;
SELECT misses('sv', '<->', 10) AS misses_after_reuse;

-- VACUUM leaves the room it makes in a list's pages to that list's next
-- appends, and does not rewrite the list into new pages (no page is free
-- to take): after half the rows go, their vectors fit again in the pages
-- the index has.  No list shrinks enough to merge (a merge's re-inserts
-- would take room, and its chain is freed at once only when no other
-- session holds a snapshot)
CREATE TABLE fill (id int, v vector(4)) WITH (autovacuum_enabled = off);
INSERT INTO fill SELECT i, ARRAY[sin(i), sin(2 * i), cos(i), cos(3 * i)] FROM generate_series(1, 4000) i;
CREATE INDEX fill_idx ON fill USING spann (v) WITH (lists = 6);
SELECT pg_relation_size('fill_idx') AS built_size \gset
DELETE FROM fill WHERE id % 2 = 0;
VACUUM fill;
SELECT pg_relation_size('fill_idx') = :built_size AS vacuum_kept_size;
INSERT INTO fill SELECT i + 4000, ARRAY[sin(i), sin(2 * i), cos(i), cos(3 * i)]
FROM generate_series(2, 4000, 2) i;
SELECT pg_relation_size('fill_idx') = :built_size AS room_reused, splits, merges
FROM spann_index_stats('fill_idx');
SELECT ann_check_index('fill_idx');
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM fill ORDER BY v <-> '[0,0,0,0]' LIMIT 5000) s;
DROP TABLE fill;

-- iterative scans: one list probed first, more as the filter drops rows.
-- strict_order probes lists by their lower bounds and returns the exact
-- answer in exact order: the same distances as exact search, whatever the
-- LIMIT; relaxed_order (the default) returns every row too
SHOW spann.iterative_scan;
SET spann.probes = 1;
SET spann.iterative_scan = strict_order;
SELECT count(*) FROM (SELECT id FROM sv WHERE id % 10 = 3 ORDER BY v <-> '[1,1,1,1]' LIMIT 20) s;
SELECT array_agg(d ORDER BY n) = (SELECT array_agg(d ORDER BY d) FROM (
	SELECT v <-> '[1,1,1,1]' AS d FROM sv WHERE id % 10 = 3 ORDER BY (v <-> '[1,1,1,1]') + 0 LIMIT 50) e) AS exact
FROM (SELECT row_number() OVER () AS n, d FROM (
	SELECT v <-> '[1,1,1,1]' AS d FROM sv WHERE id % 10 = 3 ORDER BY v <-> '[1,1,1,1]' LIMIT 50) s) t;
SELECT array_agg(d ORDER BY n) = (SELECT array_agg(d ORDER BY d) FROM (
	SELECT v <-> '[7,3,9,2]' AS d FROM sv ORDER BY (v <-> '[7,3,9,2]') + 0) e) AS exact_all
FROM (SELECT row_number() OVER () AS n, d FROM (
	SELECT v <-> '[7,3,9,2]' AS d FROM sv ORDER BY v <-> '[7,3,9,2]' LIMIT 5000) s) t;
SET spann.iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM sv WHERE id % 10 = 3 ORDER BY v <-> '[1,1,1,1]' LIMIT 20) s;
SELECT count(*) = (SELECT count(*) FROM sv) AS every_row, count(DISTINCT id) = count(*) AS once
FROM (SELECT id FROM sv ORDER BY v <-> '[7,3,9,2]' LIMIT 5000) s;
SET spann.iterative_scan = off;
SELECT count(*) < 20 AS stops_early FROM (SELECT id FROM sv WHERE id % 10 = 3 ORDER BY v <-> '[1,1,1,1]' LIMIT 20) s;
-- spann.probes is the number of lists probed: past the list count, the
-- scan is exact
SET spann.probes = 65536;
SELECT count(*) = (SELECT count(*) FROM sv) AS every_row FROM (SELECT id FROM sv ORDER BY v <-> '[7,3,9,2]' LIMIT 5000) s;
SET spann.probes = 1;
RESET spann.iterative_scan;
-- a budget that ends the scan says so, at the level ann.incomplete_scan sets
SET spann.max_probes = 2;
SELECT count(*) < 20 AS capped FROM (SELECT id FROM sv WHERE id % 10 = 3 ORDER BY v <-> '[1,1,1,1]' LIMIT 20) s;
SET ann.incomplete_scan = error;
SELECT count(*) FROM (SELECT id FROM sv WHERE id % 10 = 3 ORDER BY v <-> '[1,1,1,1]' LIMIT 20) s;
RESET ann.incomplete_scan;
RESET spann.max_probes;
SET spann.probes = 65536;

-- groups of centroids: a scan opens the spann.group_probes nearest groups
-- (about sqrt(lists) groups of lists) and more when their lists run out
CREATE TABLE sg (id int, v vector(4));
INSERT INTO sg SELECT i, ARRAY[(i * 37) % 101, (i * 53) % 103, (i * 7) % 17, (i * 11) % 19]
FROM generate_series(1, 3000) i;
CREATE INDEX sg_idx ON sg USING spann (v) WITH (lists = 100, replicas = 1);
SELECT lists, groups BETWEEN 5 AND 10 AS about_sqrt_lists FROM spann_index_stats('sg_idx');
SET spann.group_probes = 0;
SELECT misses('sg', '<->', 10) AS misses_all_groups;
-- without a backend copy of the directory, scans read the pages
SET spann.directory_cache = 0;
SELECT misses('sg', '<->', 10) AS misses_from_pages;
-- groups open one at a time until they hold spann.probes lists
SET spann.group_probes = 1;
SET spann.iterative_scan = off;
SET spann.probes = 5;
SELECT count(*) < 3000 AS five_lists_some_rows
FROM (SELECT id FROM sg ORDER BY v <-> '[50,50,8,9]' LIMIT 3000) s;
SET spann.probes = 65536;
SELECT count(*) AS every_list_every_row
FROM (SELECT id FROM sg ORDER BY v <-> '[50,50,8,9]' LIMIT 3000) s;
SET spann.iterative_scan = relaxed_order;
SELECT count(*), count(DISTINCT id) AS opens_every_group
FROM (SELECT id FROM sg ORDER BY v <-> '[50,50,8,9]' LIMIT 4000) s;
RESET spann.directory_cache;
SELECT count(*), count(DISTINCT id) AS from_copy
FROM (SELECT id FROM sg ORDER BY v <-> '[50,50,8,9]' LIMIT 4000) s;
RESET spann.iterative_scan;
SET spann.group_probes = 3;
SELECT misses('sg', '<->', 10) < 10 AS few_misses_three_groups;
-- splits put their new lists in the split list's group
INSERT INTO sg SELECT i, ARRAY[(i * 31) % 97, (i * 29) % 89, (i * 5) % 23, (i * 3) % 13]
FROM generate_series(3001, 6000) i;
SELECT lists > 100 AS more_lists, groups BETWEEN 5 AND 10 AS same_groups FROM spann_index_stats('sg_idx');
SET spann.group_probes = 0;
SELECT misses('sg', '<->', 10) AS misses_after_splits;
SET spann.directory_cache = 0;
SELECT misses('sg', '<->', 10) AS misses_after_splits_from_pages;
RESET spann.directory_cache;
RESET spann.group_probes;
-- the backend's copy of the directory goes with the index (REINDEX,
-- DROP), and copies of all indexes together stay within the setting
-- (sg's is 110 keys of 24 bytes and 100 or so rotated centroids of 256
-- bytes, sv's adds more than 2 kB)
SELECT count(*) FROM (SELECT id FROM sg ORDER BY v <-> '[1,2,3,4]' LIMIT 1) s;
SELECT count(*) AS copies_before FROM pg_backend_memory_contexts WHERE name = 'Spann directory copy' \gset
REINDEX INDEX sg_idx;
SELECT count(*) = :copies_before - 1 AS reindex_drops_copy
FROM pg_backend_memory_contexts WHERE name = 'Spann directory copy';
SET spann.directory_cache = '32kB';
SELECT count(*) FROM (SELECT id FROM sg ORDER BY v <-> '[1,2,3,4]' LIMIT 1) s;
SELECT count(*) AS only_one_fits FROM pg_backend_memory_contexts WHERE name = 'Spann directory copy';
RESET spann.directory_cache;
DROP INDEX sg_idx;
SELECT count(*) AS copies_after_drop FROM pg_backend_memory_contexts WHERE name = 'Spann directory copy';
DROP TABLE sg;

-- a table of a few distinct vectors (the clustering of equal points used
-- to recurse until the stack ran out and the server crashed)
CREATE TABLE sd (id int, v vector(2));
INSERT INTO sd SELECT i, CASE WHEN i % 2 = 0 THEN '[1,1]' ELSE '[2,3]' END::vector FROM generate_series(1, 100) i;
CREATE INDEX sd_idx ON sd USING spann (v);
SELECT lists FROM spann_index_stats('sd_idx');
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM sd ORDER BY v <-> '[1,2]' LIMIT 500) s;
CREATE TABLE sd1 AS SELECT i AS id, ARRAY[(i % 7) - 3]::vector(1) AS v FROM generate_series(1, 500) i;
CREATE INDEX sd1_idx ON sd1 USING spann (v vector_cosine_ops);
SELECT count(*) FROM (SELECT id FROM sd1 ORDER BY v <=> '[1]' LIMIT 1000) s;
DROP TABLE sd, sd1;

-- groups emptied by merges: an insert near them finds lists in farther
-- groups (it used to loop for ever; the timeout turns a hang into an error)
CREATE TABLE eg (id int, v vector(2));
INSERT INTO eg SELECT i, ARRAY[i, (i * 7) % 5] FROM generate_series(1, 8000) i;
CREATE INDEX eg_idx ON eg USING spann (v) WITH (lists = 400, replicas = 1);
SELECT lists, groups FROM spann_index_stats('eg_idx');
DELETE FROM eg WHERE id <= 7600;
VACUUM eg;
SELECT lists < 30 AS merged_away, groups FROM spann_index_stats('eg_idx');
SET statement_timeout = '60s';
INSERT INTO eg VALUES (0, '[1,1]');
RESET statement_timeout;
SELECT id FROM eg ORDER BY v <-> '[1,1]' LIMIT 3;
DROP TABLE eg;

-- REINDEX, TRUNCATE, a table smaller than lists, an empty table
REINDEX INDEX sv_idx;
SELECT misses('sv', '<->', 10) AS misses_after_reindex;
TRUNCATE sv;
SELECT count(*) FROM (SELECT id FROM sv ORDER BY v <-> '[1,1,1,1]' LIMIT 5) s;
SELECT lists, entries, groups FROM spann_index_stats('sv_idx');
INSERT INTO sv VALUES (1, '[1,2,3,4]'), (2, '[4,3,2,1]'), (3, NULL);
SELECT lists, entries, groups FROM spann_index_stats('sv_idx');
SELECT id FROM sv ORDER BY v <-> '[4,3,2,2]' LIMIT 5;
CREATE INDEX sv_tiny ON sv USING spann (v) WITH (lists = 100);
SELECT lists, entries FROM spann_index_stats('sv_tiny');
DROP INDEX sv_tiny;
CREATE TABLE sv_empty (v vector(3));
CREATE INDEX ON sv_empty USING spann (v);
SELECT count(*) FROM (SELECT v FROM sv_empty ORDER BY v <-> '[1,2,3]' LIMIT 3) s;
DROP TABLE sv_empty;

-- unlogged tables
CREATE UNLOGGED TABLE sv_unlogged (v vector(3));
INSERT INTO sv_unlogged SELECT ARRAY[i % 7, i % 11, i % 13] FROM generate_series(1, 100) i;
CREATE INDEX ON sv_unlogged USING spann (v) WITH (lists = 4);
SELECT v FROM sv_unlogged ORDER BY v <-> '[3,3,3]' LIMIT 2;
DROP TABLE sv_unlogged;

-- bad options, settings and input
CREATE INDEX ON sv USING spann (v) WITH (lists = -1);
CREATE INDEX ON sv USING spann (v) WITH (lists = 70000);
CREATE INDEX ON sv USING spann (v) WITH (epsilon = -0.5);
CREATE INDEX ON sv USING spann (v) WITH (replicas = 0);
CREATE INDEX ON sv USING spann (v) WITH (replicas = 33);
CREATE INDEX ON sv USING spann (v) WITH (probes = 3);
SET spann.probes = 0;
SET spann.rng_factor = 1;
SET spann.iterative_scan = sideways;
SET spann.max_probes = -2;
SET spann.group_probes = -1;
SET spann.directory_cache = -1;
SELECT id FROM sv ORDER BY v <-> '[1,2,3]' LIMIT 1;
CREATE TABLE sv_nodim (v vector);
CREATE INDEX ON sv_nodim USING spann (v);
DROP TABLE sv_nodim;
-- past pgvector's limit (spann_long_keys tests keys that need pages of their own)
CREATE TABLE sv_wide (v vector(2001));
CREATE INDEX ON sv_wide USING spann (v);
DROP TABLE sv_wide;
SELECT * FROM spann_index_stats('sv');
CREATE INDEX sv_btree ON sv (id);
SELECT * FROM spann_index_stats('sv_btree');
SELECT * FROM spann_index_stats(0);
SELECT * FROM spann_index_stats('pg_class'::regclass);
-- a partitioned index has no pages; each partition's index has
CREATE TABLE sv_part (id int, v vector(2)) PARTITION BY RANGE (id);
CREATE TABLE sv_part1 PARTITION OF sv_part FOR VALUES FROM (0) TO (100);
INSERT INTO sv_part VALUES (1, '[1,2]'), (2, '[2,1]');
CREATE INDEX sv_part_idx ON sv_part USING spann (v);
SELECT * FROM spann_index_stats('sv_part_idx');
SELECT lists, entries FROM spann_index_stats('sv_part1_v_idx');
DROP TABLE sv_part;
-- an index whose CREATE INDEX CONCURRENTLY failed has no pages either
CREATE TABLE sv_cic (v vector);
INSERT INTO sv_cic VALUES ('[1,2]');
CREATE INDEX CONCURRENTLY sv_cic_idx ON sv_cic USING spann (v);
SELECT * FROM spann_index_stats('sv_cic_idx');
DROP TABLE sv_cic;
-- the caller must be allowed to read the table
CREATE ROLE regress_ann_stats;
SET ROLE regress_ann_stats;
SELECT lists FROM spann_index_stats('sv_idx');
RESET ROLE;
GRANT SELECT ON sv TO regress_ann_stats;
SET ROLE regress_ann_stats;
SELECT lists > 0 AS readable FROM spann_index_stats('sv_idx');
RESET ROLE;
REVOKE SELECT ON sv FROM regress_ann_stats;
DROP ROLE regress_ann_stats;
-- without ORDER BY the index is of no use
EXPLAIN (COSTS OFF) SELECT id FROM sv WHERE v = '[1,2,3,4]';

DROP TABLE sv;
RESET enable_seqscan;
RESET spann.probes;

-- A list split while a scan has it open, under cosine: the scan cannot
-- know the replaced list's centroid, and bounded its entries by 0, which
-- is no bound where distances are negative inner products: the nearest
-- group (B) came after farther rows.  A cursor reads one row, an insert
-- in its transaction splits B's list (the cursor does not see the new
-- rows), then the cursor reads on: A1, A2 and B, 300 each, in order.
SELECT setseed(0.3);
CREATE FUNCTION near(x float8, y float8, z float8) RETURNS vector LANGUAGE sql VOLATILE
RETURN ARRAY[x + (random() - 0.5) * 0.02, y + (random() - 0.5) * 0.02, z + (random() - 0.5) * 0.02]::vector;
CREATE TABLE ss (id serial, grp text, v vector(3));
INSERT INTO ss (grp, v) SELECT g, near(x, y, z) FROM (VALUES ('A1', 1, 0, 0), ('A2', 0.99, 0.141, 0),
	('B', 0.9, 0.436, 0), ('C', 0.5, 0.866, 0), ('D', 0, 1, 0), ('E', 0, 0, 1), ('F', -1, 0, 0),
	('G', 0, -1, 0)) c(g, x, y, z), generate_series(1, 300);
CREATE INDEX ss_idx ON ss USING spann (v vector_cosine_ops) WITH (lists = 8);
SET spann.iterative_scan = strict_order;
SET spann.probes = 2;
SET enable_seqscan = off;
CREATE TABLE ss_got (n int, grp text, d float8);
DO $$
DECLARE
	cur refcursor;
	r record;
BEGIN
	OPEN cur FOR SELECT grp, v <=> '[1,0,0]' AS d FROM ss ORDER BY v <=> '[1,0,0]';
	FETCH cur INTO r;
	INSERT INTO ss_got VALUES (1, r.grp, r.d);
	INSERT INTO ss (grp, v) SELECT 'B-new', near(0.9, 0.436, 0) FROM generate_series(1, 1000);
	FOR n IN 2..900 LOOP
		FETCH cur INTO r;
		EXIT WHEN NOT FOUND;
		INSERT INTO ss_got VALUES (n, r.grp, r.d);
	END LOOP;
	CLOSE cur;
END $$;
SELECT splits > 0 AS split FROM spann_index_stats('ss_idx');
SELECT grp, count(*), min(n), max(n) FROM ss_got GROUP BY grp ORDER BY min(n);
-- (cosine's near-ties, about 1e-8 apart, may swap: README)
SELECT count(*) AS out_of_order FROM (SELECT d < lag(d) OVER (ORDER BY n) - 1e-6 AS back FROM ss_got) s WHERE back;
DROP TABLE ss, ss_got;
DROP FUNCTION near;
RESET spann.iterative_scan;
RESET spann.probes;
RESET enable_seqscan;

-- Uniform random vectors in many dimensions.  There the mean of a large
-- cluster is nearer to nearly every row than a single row is, and k-means
-- started from rows used to end with one list holding almost every row
-- and the others a row each: a one-list probe read nearly the whole table,
-- and every insert into the large list split it, cutting off a row or two.
SELECT setseed(0.7);
CREATE TABLE su (id int, v vector(256)) WITH (autovacuum_enabled = off);
INSERT INTO su SELECT i, (SELECT array_agg(random() - 0.5) FROM generate_series(1, 256 + i * 0))::vector
	FROM generate_series(1, 2000) i;
CREATE INDEX su_idx ON su USING spann (v vector_l2_ops) WITH (lists = 10, replicas = 1);
SET spann.probes = 1;
SET spann.iterative_scan = off;
SET enable_seqscan = off;
-- a probe of one list returns that list: about a tenth of the rows.
-- Every list holds 150 to 300 rows: the size penalty of k-means is kept
-- below the margin between a row's nearest and second nearest centres
-- (a penalty on the scale of the distances themselves moved most rows
-- every round, and left lists of 103 to 421 rows here, and of 1 to 797
-- rows on 4,000 such rows of 784 dimensions).
SELECT min(n) >= 150 AND max(n) <= 300 AS lists_balanced
FROM (SELECT (SELECT count(*) FROM (SELECT 1 FROM su ORDER BY v <-> q.v LIMIT 2000) r) AS n
	  FROM su q) s;
INSERT INTO su SELECT i, (SELECT array_agg(random() - 0.5) FROM generate_series(1, 256 + i * 0))::vector
	FROM generate_series(2001, 2020) i;
SELECT splits <= 2 AS few_splits FROM spann_index_stats('su_idx');
DROP TABLE su;
RESET spann.probes;
RESET spann.iterative_scan;
RESET enable_seqscan;

-- A parallel REINDEX that fails in its assignment phase inside a
-- savepoint: the leader's pool of new blocks must not outlive it.  It
-- used to, and the inserts after ROLLBACK TO took blocks of the index's
-- restored file from it, zeroing them (or waited for ever on a page they
-- had locked).  The index expression calls nextval() for the last rows
-- only, which works in the sampling scan and fails in the parallel
-- assignment scan.
SELECT setseed(0.5);
CREATE TABLE sp (id int, v vector(32)) WITH (parallel_workers = 2, autovacuum_enabled = off);
INSERT INTO sp SELECT i, (SELECT array_agg(random() + d * 0) FROM generate_series(1, 32) d)
	FROM generate_series(1, 10000) i;
CREATE SEQUENCE sp_calls;
CREATE FUNCTION sp_key(id int, v vector) RETURNS vector LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS
$$ BEGIN IF id > 9900 THEN PERFORM nextval('sp_calls'); END IF; RETURN v; END $$;
SET max_parallel_maintenance_workers = 0;
CREATE INDEX sp_idx ON sp USING spann ((sp_key(id, v)::vector(32)) vector_l2_ops) WITH (lists = 20);
SET max_parallel_maintenance_workers = 2;
BEGIN;
SAVEPOINT before_reindex;
-- the leader or a worker fails first: the error's context says which
\set VERBOSITY terse
REINDEX INDEX sp_idx;
\set VERBOSITY default
ROLLBACK TO before_reindex;
INSERT INTO sp SELECT i, (SELECT array_agg(random() + d * 0) FROM generate_series(1, 32) d)
	FROM generate_series(10001, 11000) i;
COMMIT;
SELECT ann_check_index('sp_idx', true);
SET enable_seqscan = off;
SET spann.iterative_scan = strict_order;
SET spann.max_probes = 1000;
SELECT count(*) AS all_rows, count(DISTINCT id) AS once
FROM (SELECT id FROM sp ORDER BY sp_key(id, v)::vector(32) <-> (SELECT v FROM sp WHERE id = 1)) s;
DROP TABLE sp;
DROP FUNCTION sp_key;
DROP SEQUENCE sp_calls;
RESET max_parallel_maintenance_workers;
RESET enable_seqscan;
RESET spann.iterative_scan;
RESET spann.max_probes;
