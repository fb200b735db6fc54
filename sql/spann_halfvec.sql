-- spann on halfvec: every opclass returns the exact answer with every
-- list probed, before and after inserts, deletes and VACUUM.  Drops the
-- helpers hnsw_vector created (misses, hnsw_queries).
SET enable_seqscan = off;
SET spann.probes = 65536;
CREATE TABLE sh (id int, v halfvec(4));
INSERT INTO sh SELECT i, ARRAY[(i * 7) % 31, (i * 13) % 37, (i * 17) % 41, (i * 3) % 11]
FROM generate_series(1, 500) i;
INSERT INTO sh VALUES (501, NULL), (502, '[0,0,0,0]');

CREATE INDEX sh_l2 ON sh USING spann (v halfvec_l2_ops) WITH (lists = 10);
EXPLAIN (COSTS OFF) SELECT id FROM sh ORDER BY v <-> '[1,2,3,4]' LIMIT 5;
SELECT misses('sh', '<->', 10) AS l2_misses;
SELECT id, v, v <-> '[3,1,4,1]' AS d FROM sh ORDER BY v <-> '[3,1,4,1]' LIMIT 3;
DROP INDEX sh_l2;
CREATE INDEX sh_ip ON sh USING spann (v halfvec_ip_ops) WITH (lists = 10);
SELECT misses('sh', '<#>', 10) AS ip_misses;
DROP INDEX sh_ip;
CREATE INDEX sh_cos ON sh USING spann (v halfvec_cosine_ops) WITH (lists = 10);
-- keys are normalised in float16, so allow for its rounding
SELECT misses('sh', '<=>', 10, 1e-3) AS cosine_misses;
DROP INDEX sh_cos;
CREATE INDEX sh_l1 ON sh USING spann (v halfvec_l1_ops) WITH (lists = 10);
SELECT misses('sh', '<+>', 10) AS l1_misses;

INSERT INTO sh SELECT i, ARRAY[(i * 11) % 29, (i * 5) % 23, (i * 19) % 43, (i * 2) % 13]
FROM generate_series(503, 1500) i;
SELECT splits > 0 AS split FROM spann_index_stats('sh_l1');
SELECT misses('sh', '<+>', 10) AS l1_misses_after_insert;
DELETE FROM sh WHERE id % 4 = 1;
VACUUM sh;
SELECT misses('sh', '<+>', 10) AS l1_misses_after_vacuum;
SELECT count(*) FILTER (WHERE id % 4 = 1) AS dead_returned, count(*), count(DISTINCT id)
FROM (SELECT id FROM sh ORDER BY v <+> '[1,1,1,1]' LIMIT 2000) s;
DROP TABLE sh;
DROP FUNCTION misses(regclass, text, int, float8);
DROP TABLE hnsw_queries;
RESET enable_seqscan;
RESET spann.probes;
