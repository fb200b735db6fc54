-- hnsw on keys too large for a page (long keys, kept on key pages)
SET client_min_messages = warning;
SET enable_seqscan = off;
SET hnsw.ef_search = 100;

-- 160 rows of 16,000 dimensions around 12 centres
SELECT setseed(0.23);
CREATE TABLE lk (id int, grp int, cat int, v vector(16000));
INSERT INTO lk
SELECT i, i % 12, i % 5,
	   (SELECT array_agg(sin(d * (i % 12 + 1) * 0.37) + (random() - 0.5) * 0.8)
		FROM generate_series(1, 16000) d)
FROM generate_series(1, 160) i;
CREATE TABLE lq (qid int, v vector(16000));
INSERT INTO lq SELECT id, (SELECT array_agg(x + 0.01) FROM unnest(v::real[]) x) FROM lk WHERE id % 20 = 3;

CREATE INDEX lk_l2 ON lk USING hnsw (v vector_l2_ops);
-- eight key pages a key, beside the pages of elements
SELECT pg_relation_size('lk_l2') / 8192 BETWEEN 8 * 160 AND 8 * 160 + 40 AS eight_pages_a_key;
SELECT ann_check_index('lk_l2');

-- recall@10 against the exact answers
CREATE FUNCTION lk_recall(op text, expr text, query text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
	r numeric;
BEGIN
	SET LOCAL enable_indexscan = off;
	EXECUTE format('CREATE TEMP TABLE truth AS SELECT qid, e.id FROM lq, LATERAL
					(SELECT id FROM lk ORDER BY %1$s %2$s %3$s LIMIT 10) e', expr, op, query);
	SET LOCAL enable_indexscan = on;
	SET LOCAL enable_seqscan = off;
	SET LOCAL enable_bitmapscan = off;
	EXECUTE format('SELECT count(*) / (10.0 * (SELECT count(*) FROM lq)) FROM lq, LATERAL
					(SELECT id FROM lk ORDER BY %1$s %2$s %3$s LIMIT 10) a
					WHERE (qid, a.id) IN (SELECT qid, id FROM truth)', expr, op, query) INTO r;
	DROP TABLE truth;
	RETURN r;
END $$;
SELECT lk_recall('<->', 'v', 'lq.v') >= 0.95 AS l2_recall;

-- A deep scan of tbl (id, v) by v <-> query through its index (whether
-- the plan uses it): the rows it returns, how many distinct, how many
-- come after a farther one, and how many with a distance other than a
-- sequential scan's (spann_long_keys uses it too)
CREATE FUNCTION long_deep_scan(tbl regclass, query vector)
RETURNS TABLE (index_scan boolean, rows bigint, distinct_rows bigint, out_of_order bigint,
			   wrong_distances bigint)
LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	SET LOCAL enable_seqscan = off;
	index_scan := false;
	FOR line IN EXECUTE format('EXPLAIN (COSTS OFF) SELECT id FROM %s ORDER BY v <-> $1 LIMIT 1000',
							   tbl) USING query LOOP
		index_scan := index_scan OR line LIKE '%Index Scan%';
	END LOOP;
	EXECUTE format('CREATE TEMP TABLE deep AS SELECT row_number() OVER () AS n, id, dist
					FROM (SELECT id, v <-> $1 AS dist FROM %s ORDER BY v <-> $1 LIMIT 1000) s',
				   tbl) USING query;
	SET LOCAL enable_indexscan = off;
	SET LOCAL enable_seqscan = on;
	EXECUTE format('SELECT (SELECT count(*) FROM deep), (SELECT count(DISTINCT id) FROM deep),
					(SELECT count(*) FROM deep a JOIN deep b ON b.n = a.n + 1 WHERE b.dist < a.dist),
					(SELECT count(*) FROM deep JOIN %s t USING (id) WHERE dist <> (t.v <-> $1))',
				   tbl) USING query INTO rows, distinct_rows, out_of_order, wrong_distances;
	DROP TABLE deep;
	RETURN NEXT;
END $$;

-- a deep scan returns every row once, in order, at exact distances
SELECT * FROM long_deep_scan('lk', (SELECT v FROM lq WHERE qid = 3));

-- inserts after the build, twins included, then deletes, VACUUM and reuse
INSERT INTO lk
SELECT i, i % 12, i % 5,
	   (SELECT array_agg(sin(d * (i % 12 + 1) * 0.37) + (random() - 0.5) * 0.8)
		FROM generate_series(1, 16000) d)
FROM generate_series(161, 200) i;
INSERT INTO lk SELECT 1000 + g, grp, cat, v FROM lk, generate_series(1, 3) g WHERE id = 7;
SELECT ann_check_index('lk_l2');
SELECT array_agg(id ORDER BY id) AS twins_first
FROM (SELECT id FROM lk ORDER BY v <-> (SELECT v FROM lk WHERE id = 7) LIMIT 4) s;
CREATE TEMP TABLE sizes AS SELECT pg_relation_size('lk_l2') AS before_delete;
DELETE FROM lk WHERE id % 3 = 0 AND id < 1000;
VACUUM lk;
SELECT ann_check_index('lk_l2');
INSERT INTO lk
SELECT i, i % 12, i % 5,
	   (SELECT array_agg(sin(d * (i % 12 + 1) * 0.37) + (random() - 0.5) * 0.8)
		FROM generate_series(1, 16000) d)
FROM generate_series(201, 260) i;
SELECT ann_check_index('lk_l2');
-- most new elements reuse a deleted slot and its key pages (60 new keys
-- would add 480 pages)
SELECT (pg_relation_size('lk_l2') - before_delete) / 8192 < 240 AS slots_reused FROM sizes;
SELECT count(*) AS deleted_returned FROM (SELECT id FROM lk ORDER BY v <-> (SELECT v FROM lq WHERE qid = 3) LIMIT 1000) s
WHERE id % 3 = 0 AND id < 200;
SELECT count(*) = (SELECT count(*) FROM lk) AS every_row
FROM (SELECT id FROM lk ORDER BY v <-> (SELECT v FROM lq WHERE qid = 3) LIMIT 1000) s;
SELECT lk_recall('<->', 'v', 'lq.v') >= 0.95 AS l2_recall_after_changes;
DROP INDEX lk_l2;

-- a build that outgrows maintenance_work_mem goes on inserting on disk
SET maintenance_work_mem = '1MB';
SET max_parallel_maintenance_workers = 0;
CREATE INDEX lk_spill ON lk USING hnsw (v vector_l2_ops);
RESET maintenance_work_mem;
RESET max_parallel_maintenance_workers;
SELECT ann_check_index('lk_spill');
SELECT lk_recall('<->', 'v', 'lq.v') >= 0.95 AS spilled_recall;
DROP INDEX lk_spill;

-- a filter column: its signature follows the key's page reference
CREATE INDEX lk_cat ON lk USING hnsw (v vector_l2_ops, cat);
SELECT ann_check_index('lk_cat');
SELECT count(*) = (SELECT count(*) FROM lk WHERE cat = 2) AS every_match,
	   bool_and(cat = 2) AS only_matches
FROM (SELECT id, cat FROM lk WHERE cat = 2 ORDER BY v <-> (SELECT v FROM lq WHERE qid = 3) LIMIT 1000) s;
DROP INDEX lk_cat;

-- halfvec of 16,000 dimensions, inner product and cosine of 3,072
CREATE INDEX lk_half ON lk USING hnsw ((v::halfvec(16000)) halfvec_l2_ops);
SELECT ann_check_index('lk_half');
SELECT lk_recall('<->', 'v::halfvec(16000)', 'lq.v::halfvec(16000)') >= 0.95 AS halfvec_recall;
DROP INDEX lk_half;
CREATE INDEX lk_cos ON lk USING hnsw ((subvector(v, 1, 3072)::vector(3072)) vector_cosine_ops);
CREATE INDEX lk_ip ON lk USING hnsw ((subvector(v, 1, 3072)::vector(3072)) vector_ip_ops);
SELECT ann_check_index('lk_cos'), ann_check_index('lk_ip');
SELECT lk_recall('<=>', 'subvector(v, 1, 3072)::vector(3072)',
				 'subvector(lq.v, 1, 3072)::vector(3072)') >= 0.95 AS cosine_recall;
SELECT lk_recall('<#>', 'subvector(v, 1, 3072)::vector(3072)',
				 'subvector(lq.v, 1, 3072)::vector(3072)') >= 0.95 AS ip_recall;

-- codes cannot be kept for keys this large
CREATE INDEX lk_codes ON lk USING hnsw ((subvector(v, 1, 3072)::vector(3072)) vector_l2_ops)
	WITH (quantization = rabitq);
-- more than 16,000 dimensions is no vector at all
CREATE TABLE lk_wide (v vector(16001));

DROP TABLE lk, lq;
DROP FUNCTION lk_recall(text, text, text);
