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

-- The state functions can be called with any float8[]; each state is
-- checked first.  A state of 65536 elements once gave a vector whose
-- dimension wrapped to -1 in int16, and concatenating it crashed.
\set VERBOSITY sqlstate
SELECT vector_dims(vector_avg(array_fill(1::float8, ARRAY[65536])));
SELECT '[1,2]'::vector || vector_avg(array_fill(1::float8, ARRAY[65536]));
SELECT vector_avg(array_fill(1::float8, ARRAY[16002]));
SELECT halfvec_avg(array_fill(1::float8, ARRAY[65536]));
SELECT vector_accum(array_fill(1::float8, ARRAY[65536]), '[1]');
SELECT halfvec_accum(array_fill(1::float8, ARRAY[16002]), '[1]');
SELECT vector_combine(array_fill(1::float8, ARRAY[65536]), array_fill(1::float8, ARRAY[65536]));
SELECT vector_combine('{1,1}', array_fill(1::float8, ARRAY[16002]));
-- the largest state is fine
SELECT vector_dims(vector_avg(array_fill(1::float8, ARRAY[16001])));
SELECT vector_dims(halfvec_avg(array_fill(1::float8, ARRAY[16001])));
-- not one-dimensional (empty, nested), NULLs, a bad count (negative,
-- fractional, infinite, NaN; 0 with sums; not 0 without)
SELECT vector_avg('{}');
SELECT vector_avg('{{1,1},{1,1}}');
SELECT vector_avg('{1,NULL}');
SELECT vector_avg('{NULL}');
SELECT vector_avg('{-1,1}');
SELECT vector_avg('{1.5,1}');
SELECT vector_avg('{Infinity,1}');
SELECT vector_avg('{NaN,1}');
SELECT vector_avg('{0,1}');
SELECT vector_avg('{1}');
SELECT halfvec_avg('{}');
SELECT halfvec_avg('{-1,1}');
SELECT halfvec_avg('{1,NULL}');
SELECT vector_accum('{}', '[1]');
SELECT vector_accum('{{0}}', '[1]');
SELECT vector_accum('{-1,1}', '[1]');
SELECT vector_accum('{NULL,1}', '[1]');
SELECT halfvec_accum('{2}', '[1]');
SELECT halfvec_accum('{{1,1}}', '[1]');
SELECT vector_combine('{}', '{1,1}');
SELECT vector_combine('{1,1}', '{{1,1}}');
SELECT vector_combine('{1,1}', '{0.5,1}');
SELECT vector_combine('{NULL}', '{1,1}');
-- sums that are no value of the type (NaN, infinite, past float32 or
-- float16), and a state whose length is not the value's
SELECT vector_avg('{1,NaN}');
SELECT vector_avg('{1,Infinity}');
SELECT vector_avg('{1,1e300}');
SELECT halfvec_avg('{1,NaN}');
SELECT halfvec_avg('{1,-Infinity}');
SELECT halfvec_avg('{1,1e10}');
SELECT vector_accum('{1,1,1}', '[1,2,3]');
SELECT halfvec_accum('{1,1,1}', '[1]');
SELECT vector_combine('{1,1}', '{1,2,3}');
\set VERBOSITY default
SELECT vector_avg(array_fill(1::float8, ARRAY[65536]));
SELECT vector_avg('{{1,1},{1,1}}');
SELECT vector_avg('{1,NULL}');
SELECT halfvec_accum('{-1,1}', '[1]');
SELECT vector_avg('{1,NaN}');
-- well-formed states work when called by hand, also with a lower bound
-- other than 1
SELECT vector_avg('{2,1,4}'), halfvec_avg('{2,1,4}'), vector_avg('{0}') IS NULL AS empty;
SELECT vector_avg('[5:6]={2,1}');
SELECT vector_accum('{0}', '[1,2]'), vector_accum('{1,1,2}', '[1,2]'), halfvec_accum('{0}', '[1,2]');
SELECT vector_combine('{1,1}', '{0}'), vector_combine('{0}', '{1,1}'), vector_combine('{1,1}', '{2,4}');
