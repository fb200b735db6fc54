-- Filter columns: index columns after the vector, tested by the scan.
-- For each access method, with and without filter columns: =, IN, && and
-- @> on the supported types give the exact filtered answer at generous
-- settings; NULLs; filters matching no row, one row, fewer rows than
-- LIMIT and every row; LIMIT above ef_search; bad definitions.
SET enable_seqscan = off;

CREATE TABLE ft (id int PRIMARY KEY, v vector(4), cat int4, big int8, name text, u uuid,
				 tags int4[], btags int8[], ttags text[]);
INSERT INTO ft
SELECT i, ARRAY[(i * 7) % 31, (i * 13) % 37, (i * 17) % 41, (i * 3) % 11],
	   CASE WHEN i % 50 = 0 THEN NULL ELSE i % 10 END, i, 'n' || (i % 5),
	   md5((i % 4)::text)::uuid,
	   CASE WHEN i % 40 = 0 THEN NULL ELSE ARRAY[i % 3, i % 11] END,
	   ARRAY[i % 6]::int8[], ARRAY['t' || (i % 3), 't' || (i % 7)]
FROM generate_series(1, 800) i;

CREATE TABLE fq (qid int, q vector(4));
INSERT INTO fq VALUES (1, '[3,1,4,1]'), (2, '[30,36,40,10]'), (3, '[15,0,20,5]');

-- filtered_misses(cond, k): over the queries, how many of the index's
-- first k rows under WHERE cond lie farther than the exact k-th distance,
-- plus how many rows short of min(k, matching rows) it came back.
CREATE FUNCTION filtered_misses(cond text, k int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	total bigint := 0;
	kth float8;
	matching bigint;
	far bigint;
	got bigint;
	r record;
BEGIN
	FOR r IN SELECT * FROM fq LOOP
		SET LOCAL enable_indexscan = off;
		SET LOCAL enable_seqscan = on;
		EXECUTE format('SELECT max(d), count(*) FROM (SELECT v <-> $1 AS d FROM ft WHERE v IS NOT NULL AND %s ORDER BY 1 LIMIT $2) s', cond)
			INTO kth, matching USING r.q, k;
		SET LOCAL enable_indexscan = on;
		SET LOCAL enable_seqscan = off;
		EXECUTE format('SELECT count(*) FILTER (WHERE d > $3), count(*) FROM (SELECT v <-> $1 AS d FROM ft WHERE %s ORDER BY v <-> $1 LIMIT $2) s', cond)
			INTO far, got USING r.q, k, kth;
		total := total + far + (matching - got);
	END LOOP;
	RETURN total;
END $$;

CREATE TABLE conds (cond text);
INSERT INTO conds VALUES
	('cat = 3'), ('cat IN (1, 2)'), ('big = 17'), ('big = 17::int4'), ('big IN (5, 6, 7)'),
	('name = ''n2'''), ('u = md5(''1'')::uuid'), ('tags && ARRAY[2, 7]'),
	('tags @> ARRAY[1, 5]'), ('btags && ARRAY[4::int8]'), ('ttags && ARRAY[''t1'']'),
	('ttags @> ARRAY[''t1'', ''t6'']'), ('cat = 3 AND tags && ARRAY[2]'),
	('cat = 99'), ('cat = NULL'), ('cat IS NULL'), ('tags @> ''{}'''), ('cat IN (0,1,2,3,4,5,6,7,8,9)');

-- Per access method: the plan passes each condition to the index, and
-- the results are exact (0 misses) for k = 5 and k = 30.
CREATE FUNCTION check_filters() RETURNS TABLE (cond text, index_cond boolean, misses_5 bigint, misses_30 bigint)
LANGUAGE plpgsql AS $$
DECLARE
	r record;
	plan text;
BEGIN
	FOR r IN SELECT * FROM conds LOOP
		plan := '';
		FOR plan IN EXECUTE format('EXPLAIN (COSTS OFF) SELECT id FROM ft WHERE %s ORDER BY v <-> ''[1,1,1,1]'' LIMIT 5', r.cond) LOOP
			EXIT WHEN plan LIKE '%Index Cond%';
		END LOOP;
		cond := r.cond;
		index_cond := plan LIKE '%Index Cond%';
		misses_5 := filtered_misses(r.cond, 5);
		misses_30 := filtered_misses(r.cond, 30);
		RETURN NEXT;
	END LOOP;
END $$;

-- hnsw, filter columns after the vector
SET hnsw.ef_search = 1000;
CREATE INDEX ft_hnsw ON ft USING hnsw (v vector_l2_ops, cat, big, name, u, tags, btags, ttags);
EXPLAIN (COSTS OFF) SELECT id FROM ft WHERE cat IN (1, 2) ORDER BY v <-> '[1,1,1,1]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM ft WHERE tags @> ARRAY[1] AND name = 'n1' ORDER BY v <-> '[1,1,1,1]' LIMIT 5;
SELECT * FROM check_filters();
-- a filter matching one row, and fewer rows than LIMIT: all of them
SELECT id FROM ft WHERE big = 17 ORDER BY v <-> '[1,1,1,1]' LIMIT 10;
-- without ORDER BY the index is never used, even with seqscan disabled
EXPLAIN (COSTS OFF) SELECT count(*) FROM ft WHERE cat = 3;
SELECT count(*) = (SELECT count(*) FROM ft WHERE cat + 0 = 3) AS all_rows FROM ft WHERE cat = 3;
SELECT count(*) FROM (SELECT id FROM ft WHERE big IN (5, 6, 7, 8000) ORDER BY v <-> '[1,1,1,1]' LIMIT 10) s;
-- rows inserted after the build carry their filter values
INSERT INTO ft SELECT 1000 + i, '[1,1,1,1]', 42, 1000 + i, 'new', NULL, ARRAY[99], NULL, NULL
FROM generate_series(1, 3) i;
SELECT id FROM ft WHERE cat = 42 ORDER BY v <-> '[30,30,30,30]' LIMIT 10;
SELECT id FROM ft WHERE tags && ARRAY[99] ORDER BY v <-> '[30,30,30,30]' LIMIT 10;
-- LIMIT above ef_search: the iterative scan goes on under the filter
SET hnsw.ef_search = 10;
SET hnsw.iterative_scan = relaxed_order;
SELECT filtered_misses('cat = 3', 50) AS relaxed_misses_limit_50;
SET hnsw.iterative_scan = strict_order;
SELECT count(*) AS strict_rows_limit_50 FROM (SELECT id FROM ft WHERE cat = 3 ORDER BY v <-> '[3,1,4,1]' LIMIT 50) s;
RESET hnsw.iterative_scan;
SET hnsw.ef_search = 1000;
DELETE FROM ft WHERE id > 1000;
VACUUM ft;
SELECT filtered_misses('cat = 3', 10) AS misses_after_vacuum;
DROP INDEX ft_hnsw;

-- hnsw, no filter column: the executor filters, the iterative scan goes on
CREATE INDEX ft_hnsw_plain ON ft USING hnsw (v vector_l2_ops);
SELECT * FROM check_filters();
DROP INDEX ft_hnsw_plain;
RESET hnsw.ef_search;

-- spann, every list probed
SET spann.probes = 65536;
CREATE INDEX ft_spann ON ft USING spann (v vector_l2_ops, cat, big, name, u, tags, btags, ttags) WITH (lists = 8);
EXPLAIN (COSTS OFF) SELECT id FROM ft WHERE cat IN (1, 2) ORDER BY v <-> '[1,1,1,1]' LIMIT 5;
SELECT * FROM check_filters();
SELECT id FROM ft WHERE big = 17 ORDER BY v <-> '[1,1,1,1]' LIMIT 10;
-- splits keep the signatures: insert until lists split, then check again
INSERT INTO ft SELECT 2000 + i, ARRAY[i % 5, i % 7, i % 3, i % 2], i % 10, 2000 + i, 'n' || (i % 5),
	NULL, ARRAY[i % 3], NULL, NULL
FROM generate_series(1, 1500) i;
SELECT splits > 0 AS split FROM spann_index_stats('ft_spann');
SELECT filtered_misses('cat = 3', 10) AS misses_after_splits,
	   filtered_misses('tags && ARRAY[2]', 10) AS array_misses_after_splits;
DELETE FROM ft WHERE id > 2000;
VACUUM ft;
SELECT filtered_misses('cat = 3', 10) AS misses_after_vacuum;
DROP INDEX ft_spann;

-- spann, no filter column
CREATE INDEX ft_spann_plain ON ft USING spann (v vector_l2_ops) WITH (lists = 8);
SELECT * FROM check_filters();
DROP INDEX ft_spann_plain;
RESET spann.probes;

-- Plans: a very selective condition on a btree-indexed column keeps the
-- btree plan; a condition matching many rows goes to the vector index.
CREATE TABLE fp AS SELECT i AS id, ARRAY[i % 97, i % 89]::vector(2) AS v, i % 10 AS cat, i AS big
FROM generate_series(1, 20000) i;
CREATE INDEX fp_big ON fp (big);
CREATE INDEX fp_cat ON fp (cat);
CREATE INDEX fp_hnsw ON fp USING hnsw (v vector_l2_ops, cat, big);
ANALYZE fp;
SET enable_seqscan = on;
EXPLAIN (COSTS OFF) SELECT id FROM fp WHERE big = 17 ORDER BY v <-> '[1,1]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM fp WHERE big < 40 ORDER BY v <-> '[1,1]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM fp WHERE cat = 3 ORDER BY v <-> '[1,1]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM fp WHERE cat IN (3, 4) ORDER BY v <-> '[1,1]' LIMIT 5;
SET enable_seqscan = off;
DROP TABLE fp;

-- bad definitions
CREATE INDEX ON ft USING hnsw (cat, v vector_l2_ops);
CREATE INDEX ON ft USING spann (v vector_l2_ops, v vector_l2_ops);
CREATE INDEX ON ft USING hnsw (v vector_l2_ops, (cat::float8));
CREATE INDEX ON ft USING hnsw (v vector_l2_ops, (ARRAY[cat::float8]));
CREATE COLLATION ft_nd (provider = icu, locale = 'und', deterministic = false);
CREATE INDEX ON ft USING hnsw (v vector_l2_ops, name COLLATE ft_nd);
CREATE INDEX ON ft USING hnsw (v vector_l2_ops, cat, cat, cat, cat, cat, cat, cat, cat, cat);
DROP COLLATION ft_nd;
CREATE TABLE ft_wide (v vector(2000), c int);
CREATE INDEX ON ft_wide USING spann (v, c);
CREATE INDEX ON ft_wide USING hnsw (v, c, c, c, c, c, c, c, c);
DROP TABLE ft_wide;
-- just short of keys on pages of their own, not even one fits (it said
-- "at most -1")
CREATE TABLE ft_wide (v vector(2032), c int);
CREATE INDEX ON ft_wide USING spann (v, c);
DROP TABLE ft_wide;

DROP FUNCTION check_filters();
DROP FUNCTION filtered_misses(text, int);
DROP TABLE conds, fq, ft;

-- A filtered search that goes over its budget (half the cost of the
-- exact search of the matches) after finding ef_search matches was taken
-- as finished: its frontier could still improve them, and a filter
-- matching 28% of 2,000 random vector(100) rows returned 0.57 of the 10
-- nearest at any ef_search up to 100.  Now the exact search answers.
SELECT setseed(0.5);
CREATE TABLE fb (id int, tenant int, v vector(100));
INSERT INTO fb SELECT g, g % 7, ARRAY(SELECT random() - 0.5 FROM generate_series(1, 100) WHERE g > 0)
FROM generate_series(1, 2000) g;
CREATE INDEX fb_idx ON fb USING hnsw (v vector_l2_ops, tenant);
CREATE TABLE fbq AS SELECT i, ARRAY(SELECT random() - 0.5 FROM generate_series(1, 100) WHERE i > 0)::vector(100) AS q
FROM generate_series(1, 20) i;
SET enable_seqscan = off;
SELECT sum(10 - h) AS missed FROM fbq, LATERAL (SELECT count(*) AS h FROM
	(SELECT id FROM fb WHERE tenant IN (2, 3) ORDER BY v <-> fbq.q LIMIT 10) a
	WHERE id IN (SELECT id FROM fb WHERE tenant IN (2, 3) ORDER BY (v <-> fbq.q) + 0 LIMIT 10)) s;
RESET enable_seqscan;
DROP TABLE fb, fbq;
