-- spann on keys too large for a page (long keys, kept on key pages);
-- uses long_deep_scan of hnsw_long_keys
SET client_min_messages = warning;
SET enable_seqscan = off;
SET spann.iterative_scan = strict_order;

-- 20 rows of 16,000 dimensions around 12 centres, then inserts that split
-- the few lists a build on 20 rows makes
SELECT setseed(0.29);
CREATE TABLE sl (id int, cat int, v vector(16000));
CREATE FUNCTION sl_rows(first int, last int) RETURNS void LANGUAGE sql AS $$
	INSERT INTO sl
	SELECT i, i % 5, (SELECT array_agg(sin(d * (i % 12 + 1) * 0.37) + (random() - 0.5) * 0.8)
					  FROM generate_series(1, 16000) d)
	FROM generate_series(first, last) i;
$$;
SELECT sl_rows(1, 20);
CREATE INDEX sl_l2 ON sl USING spann (v vector_l2_ops, cat);
SELECT ann_check_index('sl_l2');
SELECT sl_rows(21, 200);
SELECT splits > 0 AS lists_split FROM spann_index_stats('sl_l2');
SELECT ann_check_index('sl_l2');

-- a strict deep scan returns every row once, in order, at exact distances
SELECT * FROM long_deep_scan('sl', (SELECT v FROM sl WHERE id = 3));
-- the ten nearest with every list probed are the exact ten
SET spann.probes = 65536;
SELECT array_agg(id) AS index_top10 FROM (SELECT id FROM sl ORDER BY v <-> (SELECT v FROM sl WHERE id = 8) LIMIT 10) s
\gset
SET enable_indexscan = off;
SET enable_seqscan = on;
SELECT array_agg(id) = :'index_top10' AS top10_exact
FROM (SELECT id FROM sl ORDER BY v <-> (SELECT v FROM sl WHERE id = 8) LIMIT 10) s;
SET enable_indexscan = on;
SET enable_seqscan = off;
RESET spann.probes;

-- a filter column: its summary follows the centroid's page reference
SELECT count(*) = (SELECT count(*) FROM sl WHERE cat = 2) AS every_match,
	   bool_and(cat = 2) AS only_matches
FROM (SELECT id, cat FROM sl WHERE cat = 2 ORDER BY v <-> (SELECT v FROM sl WHERE id = 3) LIMIT 1000) s;

-- deletes, VACUUM (merging emptied lists, freeing their keys' pages) and
-- new rows in the freed vector slots
DELETE FROM sl WHERE id % 3 = 0 OR id % 12 = 1;
VACUUM sl;
SELECT merges > 0 AS lists_merged FROM spann_index_stats('sl_l2');
SELECT ann_check_index('sl_l2');
CREATE TEMP TABLE sizes AS SELECT pg_relation_size('sl_l2') AS before_inserts;
SELECT sl_rows(201, 260);
-- 60 new vectors would take 480 new pages without the freed ones
SELECT (pg_relation_size('sl_l2') - before_inserts) / 8192 < 240 AS space_reused FROM sizes;
SELECT ann_check_index('sl_l2');
SELECT count(*) = (SELECT count(*) FROM sl) AS every_row
FROM (SELECT id FROM sl ORDER BY v <-> (SELECT v FROM sl WHERE id = 4) LIMIT 1000) s;
DROP INDEX sl_l2;

-- halfvec of 16,000 dimensions, cosine and inner product of 3,072
CREATE INDEX sl_half ON sl USING spann ((v::halfvec(16000)) halfvec_l2_ops);
SELECT ann_check_index('sl_half');
SELECT count(*) = (SELECT count(*) FROM sl) AS every_row_halfvec
FROM (SELECT id FROM sl ORDER BY v::halfvec(16000) <-> (SELECT v::halfvec(16000) FROM sl WHERE id = 4) LIMIT 1000) s;
DROP INDEX sl_half;
CREATE INDEX sl_cos ON sl USING spann ((subvector(v, 1, 3072)::vector(3072)) vector_cosine_ops);
CREATE INDEX sl_ip ON sl USING spann ((subvector(v, 1, 3072)::vector(3072)) vector_ip_ops);
SELECT ann_check_index('sl_cos'), ann_check_index('sl_ip');
SELECT count(*) = (SELECT count(*) FROM sl) AS every_row_cosine
FROM (SELECT id FROM sl ORDER BY subvector(v, 1, 3072)::vector(3072) <=>
	  (SELECT subvector(v, 1, 3072)::vector(3072) FROM sl WHERE id = 4) LIMIT 1000) s;
SELECT count(*) = (SELECT count(*) FROM sl) AS every_row_ip
FROM (SELECT id FROM sl ORDER BY subvector(v, 1, 3072)::vector(3072) <#>
	  (SELECT subvector(v, 1, 3072)::vector(3072) FROM sl WHERE id = 4) LIMIT 1000) s;

DROP TABLE sl;
DROP FUNCTION sl_rows(int, int);
DROP FUNCTION long_deep_scan(regclass, vector);
