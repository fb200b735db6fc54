-- avg and sum, serial and parallel
SELECT avg(v), sum(v) FROM (VALUES ('[1,2,3]'::vector), ('[3,4,5]'), (NULL)) t(v);
SELECT avg(h), sum(h) FROM (VALUES ('[1,2,3]'::halfvec), ('[3,4,5]'), (NULL)) t(h);
SELECT avg(v), sum(v) FROM (SELECT NULL::vector WHERE false) t(v);
SELECT avg(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v);
SELECT sum(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v);
SELECT sum(h) FROM (VALUES ('[60000]'::halfvec), ('[60000]')) t(h);
-- avg accumulates in float8, so it does not overflow where sum would
SELECT avg(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v);
SELECT avg(h) FROM (VALUES ('[60000]'::halfvec), ('[60000]')) t(h);

-- sums stay exact (below 2^24 for float32, 2^11 for float16), so the
-- result does not depend on the order rows reach each worker
CREATE TABLE agg (g int, v vector(3), h halfvec(3));
INSERT INTO agg SELECT i % 3, ARRAY[i, i % 7, 1], ARRAY[i % 2, 1, 0.5] FROM generate_series(1, 1500) i;
ANALYZE agg;
SELECT g, avg(v), sum(v), avg(h), sum(h) FROM agg GROUP BY g ORDER BY g;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT avg(v), sum(v), avg(h), sum(h) FROM agg;
SELECT avg(v), sum(v), avg(h), sum(h) FROM agg;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP TABLE agg;
