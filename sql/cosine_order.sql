-- halfvec_cosine_ops indexes unit vectors rounded to half precision, so
-- the distance a scan computes can differ from what <=> computes on the
-- row by up to 2e-4, enough to swap near rows.  The scans give the
-- executor a lower bound of <=> and have it recheck the order on the rows,
-- so rows come out in <=>'s own order.  (Before: 114 adjacent pairs out of
-- order over these 2,000 rows, and LIMIT 29 returned row 280 in place of
-- the nearer 255.)  vector_cosine_ops (float32 unit vectors, about 1e-8
-- off) has no recheck; these rows do not tie that closely.
SET client_min_messages = error;
SET jit = off;
SET enable_seqscan = off;
SELECT setseed(0.42);
CREATE TABLE co (id int PRIMARY KEY, h halfvec(16), v vector(16));
INSERT INTO co SELECT i, a::halfvec(16), a::vector(16)
FROM (SELECT i, (SELECT array_agg(random() * 2 - 1) FROM generate_series(1, 16) WHERE i > 0) AS a
	  FROM generate_series(1, 2000) i) s;
CREATE TABLE coq (q vector(16));
INSERT INTO coq VALUES ('[0.1,-0.2,0.3,0.4,-0.5,0.6,0.7,-0.8,0.9,0.1,0.2,-0.3,0.4,0.5,0.6,-0.7]');

-- rows out of order among the first n an index scan returns, and whether
-- its first k rows are the k nearest
CREATE FUNCTION co_inversions(col text, n int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE r bigint;
BEGIN
	EXECUTE format('SELECT count(*) FILTER (WHERE d < prev) FROM
		(SELECT d, lag(d) OVER (ORDER BY rn) AS prev FROM
			(SELECT %1$s <=> (SELECT q FROM coq)::%2$s AS d, row_number() OVER () AS rn FROM
				(SELECT %1$s FROM co ORDER BY %1$s <=> (SELECT q FROM coq)::%2$s LIMIT %3$s) a) b) c',
		col, CASE col WHEN 'h' THEN 'halfvec' ELSE 'vector' END, n) INTO r;
	RETURN r;
END $$;
CREATE FUNCTION co_top_exact(col text, k int) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE got int[]; want int[];
BEGIN
	EXECUTE format('SELECT array_agg(id ORDER BY id) FROM
		(SELECT id FROM co ORDER BY %1$s <=> (SELECT q FROM coq)::%2$s LIMIT %3$s) a',
		col, CASE col WHEN 'h' THEN 'halfvec' ELSE 'vector' END, k) INTO got;
	EXECUTE format('SELECT array_agg(id ORDER BY id) FROM
		(SELECT id FROM co ORDER BY (%1$s <=> (SELECT q FROM coq)::%2$s) + 0 LIMIT %3$s) a',
		col, CASE col WHEN 'h' THEN 'halfvec' ELSE 'vector' END, k) INTO want;
	RETURN got = want;
END $$;

CREATE INDEX co_h ON co USING spann (h halfvec_cosine_ops);
CREATE INDEX co_v ON co USING spann (v vector_cosine_ops);
SET spann.iterative_scan = strict_order;
SELECT co_inversions('h', 2000) AS spann_halfvec, co_inversions('v', 2000) AS spann_vector;
SELECT bool_and(co_top_exact('h', k)) AS spann_halfvec_top, bool_and(co_top_exact('v', k)) AS spann_vector_top
FROM generate_series(20, 40) k;
DROP INDEX co_h, co_v;

CREATE INDEX co_h ON co USING hnsw (h halfvec_cosine_ops);
CREATE INDEX co_v ON co USING hnsw (v vector_cosine_ops);
SET hnsw.ef_search = 100;
SELECT co_inversions('h', 500) AS hnsw_halfvec, co_inversions('v', 500) AS hnsw_vector;
SELECT bool_and(co_top_exact('h', k)) AS hnsw_halfvec_top, bool_and(co_top_exact('v', k)) AS hnsw_vector_top
FROM generate_series(20, 40) k;
-- the same with a filter on an indexed column, which may take the exact path
DROP INDEX co_h;
ALTER TABLE co ADD COLUMN tenant int;
UPDATE co SET tenant = id % 10;
CREATE INDEX co_hf ON co USING hnsw (h halfvec_cosine_ops, tenant);
SELECT count(*) FILTER (WHERE d < prev) AS hnsw_filtered
FROM (SELECT d, lag(d) OVER (ORDER BY rn) AS prev
	  FROM (SELECT h <=> (SELECT q FROM coq)::halfvec AS d, row_number() OVER () AS rn
			FROM (SELECT h FROM co WHERE tenant = 7 ORDER BY h <=> (SELECT q FROM coq)::halfvec) a) b) c;
DROP TABLE co, coq;
DROP FUNCTION co_inversions, co_top_exact;

-- A zero query vector under cosine orders nothing (its <=> is NaN for
-- every row): every row comes back, with no report of rows found too late
-- (their index distances differ only by rounding; 6 were reported)
SELECT setseed(0.7);
CREATE TABLE zq AS SELECT i, ARRAY[random(), random() - 0.5, random()]::vector(3) AS v FROM generate_series(1, 500) i;
CREATE INDEX zq_idx ON zq USING hnsw (v vector_cosine_ops);
SET enable_seqscan = off;
SELECT count(*) AS all_rows, count(*) FILTER (WHERE d = 'NaN') AS nan
FROM (SELECT v <=> '[0,0,0]' AS d FROM zq ORDER BY v <=> '[0,0,0]') s;
RESET enable_seqscan;
DROP TABLE zq;
