-- hnsw on halfvec: every opclass returns the exact answer at high
-- ef_search, before and after inserts, deletes and VACUUM.  Uses the
-- helpers hnsw_vector created (misses, hnsw_queries); spann_halfvec drops them.
SET enable_seqscan = off;
SET hnsw.ef_search = 1000;
CREATE TABLE hh (id int, v halfvec(4));
INSERT INTO hh SELECT i, ARRAY[(i * 7) % 31, (i * 13) % 37, (i * 17) % 41, (i * 3) % 11]
FROM generate_series(1, 500) i;
INSERT INTO hh VALUES (501, NULL), (502, '[0,0,0,0]');

CREATE INDEX hh_l2 ON hh USING hnsw (v halfvec_l2_ops);
EXPLAIN (COSTS OFF) SELECT id FROM hh ORDER BY v <-> '[1,2,3,4]' LIMIT 5;
SELECT misses('hh', '<->', 10) AS l2_misses;
SELECT id, v, v <-> '[3,1,4,1]' AS d FROM hh ORDER BY v <-> '[3,1,4,1]' LIMIT 3;
DROP INDEX hh_l2;
CREATE INDEX hh_ip ON hh USING hnsw (v halfvec_ip_ops);
SELECT misses('hh', '<#>', 10) <= 2 AS ip_nearly_exact;
DROP INDEX hh_ip;
CREATE INDEX hh_cos ON hh USING hnsw (v halfvec_cosine_ops);
-- keys are normalised in float16, so allow for its rounding
SELECT misses('hh', '<=>', 10, 1e-3) AS cosine_misses;
SELECT count(*) FILTER (WHERE id = 502) AS zero_returned FROM (SELECT id FROM hh ORDER BY v <=> '[1,1,1,1]' LIMIT 600) s;
DROP INDEX hh_cos;
CREATE INDEX hh_l1 ON hh USING hnsw (v halfvec_l1_ops);
SELECT misses('hh', '<+>', 10) AS l1_misses;

INSERT INTO hh SELECT i, ARRAY[(i * 11) % 29, (i * 5) % 23, (i * 19) % 43, (i * 2) % 13]
FROM generate_series(503, 800) i;
SELECT misses('hh', '<+>', 10) AS l1_misses_after_insert;
DELETE FROM hh WHERE id % 4 = 1;
VACUUM hh;
SELECT misses('hh', '<+>', 10) AS l1_misses_after_vacuum;
SELECT count(*) FILTER (WHERE id % 4 = 1) AS dead_returned, count(*)
FROM (SELECT id FROM hh ORDER BY v <+> '[1,1,1,1]' LIMIT 1000) s;
DROP TABLE hh;
