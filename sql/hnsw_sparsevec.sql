-- hnsw on sparsevec keys: sparsevec_l2_ops, _ip_ops, _cosine_ops and
-- _l1_ops.  Keys vary in size from row to row.  The rows are fixed (md5 of
-- the id): like a learned sparse embedding of text, each has a topic
-- (one of 30) whose 40 dimensions hold most of its 3 to 24 non-zero
-- elements, the rest anywhere.  Each check compares the index's answers
-- with the exact ones of a sequential scan.
SET client_min_messages = warning;
-- row i: up to 3 + i % 22 + extra elements at md5-chosen positions
-- (repeats merge), three in four of them in the topic's dimensions
CREATE FUNCTION sparse_row(i int, dim int, extra int DEFAULT 0) RETURNS sparsevec IMMUTABLE
	LANGUAGE sql AS $$
	SELECT ('{' || coalesce(string_agg(pos || ':' || val, ','), '') || '}/' || dim)::sparsevec
	FROM (SELECT DISTINCT ON (pos) pos, val FROM (
		SELECT 1 + (CASE WHEN k % 4 = 0 THEN 0 ELSE (i % 30) * 16 END +
				('x' || substr(md5(i || ':' || k), 1, 7))::bit(28)::int %
				CASE WHEN k % 4 = 0 THEN dim ELSE 40 END) % dim AS pos,
			round((('x' || substr(md5(i || ':' || k), 8, 6))::bit(24)::int / 8388608.0 - 1)::numeric, 3)
				AS val
		FROM generate_series(1, 3 + i % 22 + extra) k) e) d $$;
CREATE TABLE sv (id int PRIMARY KEY, s sparsevec(500), c int);
INSERT INTO sv SELECT i, sparse_row(i, 500), i % 10 FROM generate_series(1, 3000) i;
SELECT min(s <-> '{}/500'), count(*) FROM sv;
CREATE INDEX sv_l2 ON sv USING hnsw (s sparsevec_l2_ops, c) WITH (m = 8, ef_construction = 32);
CREATE INDEX sv_ip ON sv USING hnsw (s sparsevec_ip_ops) WITH (m = 8, ef_construction = 32);
CREATE INDEX sv_cosine ON sv USING hnsw (s sparsevec_cosine_ops) WITH (m = 8, ef_construction = 32);
CREATE INDEX sv_l1 ON sv USING hnsw (s sparsevec_l1_ops) WITH (m = 8, ef_construction = 32);
SELECT ann_check_index('sv_l2', true), ann_check_index('sv_ip', true),
	ann_check_index('sv_cosine', true), ann_check_index('sv_l1', true);

-- each index drives ORDER BY ... LIMIT on its operator
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM sv ORDER BY s <-> sparse_row(1, 500) LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM sv ORDER BY s <#> sparse_row(1, 500) LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM sv ORDER BY s <=> sparse_row(1, 500) LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM sv ORDER BY s <+> sparse_row(1, 500) LIMIT 5;
RESET enable_seqscan;

-- The 10 nearest of 20 queries through each index: a hit is a row no
-- farther than the exact 10th.  Distances come back in order.  (L2 and
-- L1 recall is lower on such data for any hnsw: pgvector 0.8.6 finds
-- 161 of 200 under L2 at m = 16, ef_construction = 100, ef_search = 100.)
CREATE FUNCTION sparse_hits(query sparsevec, op text) RETURNS TABLE (hits int, ordered bool)
LANGUAGE plpgsql AS $$
DECLARE
	dists float8[];
	tenth float8;
BEGIN
	EXECUTE format('SELECT array_agg(d ORDER BY n) FROM (SELECT s %s $1 AS d, row_number() OVER () AS n
		FROM (SELECT s FROM sv ORDER BY s %s $1 LIMIT 10) i) x', op, op) INTO dists USING query;
	SET LOCAL enable_indexscan = off;
	EXECUTE format('SELECT max(d) FROM (SELECT s %s $1 AS d FROM sv ORDER BY 1 LIMIT 10) e', op)
		INTO tenth USING query;
	RESET enable_indexscan;
	hits := (SELECT count(*) FROM unnest(dists) d WHERE d <= tenth);
	ordered := (SELECT bool_and(dists[k] <= dists[k + 1]) FROM generate_series(1, 9) k);
	RETURN NEXT;
END $$;
SET hnsw.ef_search = 200;
SELECT op, sum(hits) >= 150 AS recall_at_least_75, bool_and(ordered) AS ordered
FROM (VALUES ('<->'), ('<#>'), ('<=>'), ('<+>')) o(op),
	LATERAL (SELECT (sparse_hits(sparse_row(q, 500, 2), op)).* FROM generate_series(5001, 5020) q) h
GROUP BY op ORDER BY op;
RESET hnsw.ef_search;

-- every row comes back, once, through an iterative scan (the zero
-- vectors, which cosine leaves out, aside)
SET hnsw.iterative_scan = relaxed_order;
SELECT count(*), count(DISTINCT id) FROM
	(SELECT id FROM sv ORDER BY s <-> sparse_row(7, 500) LIMIT 5000) a;
SELECT count(*), count(DISTINCT id) FROM
	(SELECT id FROM sv ORDER BY s <#> sparse_row(7, 500) LIMIT 5000) a;
SET hnsw.iterative_scan = strict_order;
SELECT count(*) = (SELECT count(*) FROM sv WHERE s <-> '{}/500' > 0) AS all_nonzero_rows,
	count(DISTINCT id) = count(*) AS once
FROM (SELECT id FROM sv ORDER BY s <=> sparse_row(7, 500) LIMIT 5000) a;

-- a filter on the index's column: the nearest matches, every one a match
SELECT count(*) AS rows, bool_and(c = 3) AS all_match,
	max(s <-> sparse_row(9, 500)) <= (SELECT max(d) FROM (SELECT s <-> sparse_row(9, 500) AS d
		FROM sv WHERE c = 3 ORDER BY 1 LIMIT 50) e) AS nearest
FROM (SELECT id, s, c FROM sv WHERE c = 3 ORDER BY s <-> sparse_row(9, 500) LIMIT 50) f;
SELECT count(*) FROM (SELECT id FROM sv WHERE c = 3 ORDER BY s <-> sparse_row(9, 500) LIMIT 400) f;
RESET hnsw.iterative_scan;

-- 25 copies of one vector (more than an element holds) all come back
INSERT INTO sv SELECT 10000 + i, sparse_row(42, 500), 42 FROM generate_series(1, 25) i;
SELECT count(*) FROM (SELECT id FROM sv ORDER BY s <-> sparse_row(42, 500) LIMIT 26) t
WHERE id = 42 OR id > 10000;

-- inserts of every size up to the limit, deletes, VACUUM, and inserts
-- into the freed slots, small rows' slots taken by larger ones
INSERT INTO sv SELECT 20000 + i, sparse_row(i, 500, 100 * (i % 5)), i % 10
	FROM generate_series(1, 200) i;
INSERT INTO sv SELECT 30000, ('{' || string_agg(k || ':' || k, ',') || '}/500')::sparsevec, 0
	FROM generate_series(1, 500) k;
DELETE FROM sv WHERE id % 7 = 0 AND id < 3000;
VACUUM sv;
SELECT ann_check_index('sv_l2', true), ann_check_index('sv_ip', true),
	ann_check_index('sv_cosine', true), ann_check_index('sv_l1', true);
INSERT INTO sv SELECT 40000 + i, sparse_row(i, 500, 400), i % 10 FROM generate_series(1, 300) i;
-- every element is reachable right after the inserts (rows whose norms
-- dominate L2 distances once left most of them unreachable until VACUUM)
SELECT ann_check_index('sv_l2', true), ann_check_index('sv_ip', true),
	ann_check_index('sv_cosine', true), ann_check_index('sv_l1', true);
SELECT id FROM sv ORDER BY s <-> sparse_row(7, 500, 400) LIMIT 1;

-- rows inserted one by one into an empty index, where norms dominate L2
-- distances (random positions, 3 to 60 elements): all reachable
CREATE TABLE svins (id int, s sparsevec(1000));
CREATE INDEX svins_l2 ON svins USING hnsw (s) WITH (m = 8, ef_construction = 32);
INSERT INTO svins SELECT i, sparse_row(i * 7919, 1000, i % 38) FROM generate_series(1, 1500) i;
SELECT ann_check_index('svins_l2', true);

-- a build whose graph outgrows maintenance_work_mem, serial and parallel
-- (the rest goes in as inserts)
SET maintenance_work_mem = '1MB';
CREATE TABLE svbig (id int, s sparsevec(2000));
INSERT INTO svbig SELECT i, sparse_row(i, 2000, 60) FROM generate_series(1, 6000) i;
SET max_parallel_maintenance_workers = 0;
CREATE INDEX svbig_serial ON svbig USING hnsw (s) WITH (m = 4, ef_construction = 8);
ALTER TABLE svbig SET (parallel_workers = 2);
SET max_parallel_maintenance_workers = 2;
CREATE INDEX svbig_parallel ON svbig USING hnsw (s) WITH (m = 4, ef_construction = 8);
RESET max_parallel_maintenance_workers;
RESET maintenance_work_mem;
SELECT ann_check_index('svbig_serial', true), ann_check_index('svbig_parallel', true);
SET hnsw.iterative_scan = relaxed_order;
SET enable_seqscan = off;
SELECT count(DISTINCT id) FROM (SELECT id FROM svbig ORDER BY s <-> sparse_row(3, 2000) LIMIT 7000) a;
RESET enable_seqscan;
RESET hnsw.iterative_scan;

-- pgvector's sparse example, unchanged
CREATE TABLE items (id bigserial PRIMARY KEY, embedding sparsevec(5));
INSERT INTO items (embedding) VALUES ('{1:1,3:2,5:3}/5'), ('{1:4,3:5,5:6}/5');
CREATE INDEX ON items USING hnsw (embedding sparsevec_l2_ops);
SELECT * FROM items ORDER BY embedding <-> '{1:3,3:1,5:2}/5' LIMIT 5;

-- bad input
\set VERBOSITY sqlstate
-- more than 1,000 non-zero elements: at insert, and at build
INSERT INTO items (embedding) SELECT ('{' || string_agg(k || ':1', ',') || '}/5')::sparsevec
	FROM generate_series(1, 5) k;
CREATE TABLE crowded (s sparsevec(2000));
INSERT INTO crowded SELECT ('{' || string_agg(k || ':1', ',') || '}/2000')::sparsevec
	FROM generate_series(1, 1001) k;
CREATE INDEX ON crowded USING hnsw (s);
TRUNCATE crowded;
CREATE INDEX crowded_s ON crowded USING hnsw (s);
INSERT INTO crowded SELECT ('{' || string_agg(k || ':1', ',') || '}/2000')::sparsevec
	FROM generate_series(1, 1001) k;
-- no dimensions, other dimensions
CREATE TABLE untyped (s sparsevec);
CREATE INDEX ON untyped USING hnsw (s);
SELECT id FROM sv ORDER BY s <-> '{1:1}/499' LIMIT 1;
CREATE INDEX ON sv USING spann (s sparsevec_l2_ops);
\set VERBOSITY default
-- exactly 1,000 fit, with the most filter columns an index can have
INSERT INTO crowded SELECT ('{' || string_agg(k || ':1', ',') || '}/2000')::sparsevec
	FROM generate_series(1, 1000) k;
SELECT ann_check_index('crowded_s', true);
CREATE TABLE filtered (s sparsevec(2000), a int, b int, c int, d int, e int, f int, g int, h int);
CREATE INDEX filtered_s ON filtered USING hnsw (s, a, b, c, d, e, f, g, h);
INSERT INTO filtered SELECT ('{' || string_agg(k || ':' || k % 7 + 1, ',') || '}/2000')::sparsevec,
	1, 2, 3, 4, 5, 6, 7, 8 FROM generate_series(1, 1000) k;
INSERT INTO filtered SELECT sparse_row(i, 2000), i, 2, 3, 4, 5, 6, 7, 8 FROM generate_series(1, 20) i;
SELECT ann_check_index('filtered_s', true);
SELECT a, h FROM filtered WHERE a = 1 AND h = 8 ORDER BY s <-> '{1:2}/2000' LIMIT 5;

-- Inserts of vectors with 1 to 3 of 5,000 dimensions set (nearly all
-- pairs share none, so a distance is mostly the two norms) left elements
-- no layer-0 link led to: an element the insert's search met where it
-- started layer 0 was taken for proof that a link could be dropped.  Now
-- the checker finds every element reachable, and a search whose graph
-- runs out before ef_search elements also reads the whole index before
-- it returns a row: every row finds itself first.
CREATE TABLE sparse_ties (id int, v sparsevec(5000));
CREATE INDEX sparse_ties_v ON sparse_ties USING hnsw (v);
CREATE INDEX sparse_ties_ip ON sparse_ties USING hnsw (v sparsevec_ip_ops);
SELECT setseed(0.6);
INSERT INTO sparse_ties SELECT i, (SELECT ('{' || string_agg(k || ':' ||
    round((random() + 0.01)::numeric, 3), ',') || '}/5000')::sparsevec
  FROM (SELECT DISTINCT (1 + floor(random() * 5000))::int + 0 * i AS k
        FROM generate_series(1, 1 + (i % 3))) s)
  FROM generate_series(1, 300) i;
SELECT ann_check_index('sparse_ties_v', true);
SELECT ann_check_index('sparse_ties_ip', true);
DROP INDEX sparse_ties_ip;
SET hnsw.ef_search = 1000;
SET enable_seqscan = off;
SELECT count(*) AS rows_not_first_for_their_own_vector FROM sparse_ties s
  WHERE (SELECT t.id FROM sparse_ties t ORDER BY t.v <-> s.v LIMIT 1) <> s.id
    AND s.v <> (SELECT t.v FROM sparse_ties t ORDER BY t.v <-> s.v LIMIT 1);
RESET hnsw.ef_search;
RESET enable_seqscan;

DROP TABLE sv, svins, svbig, items, crowded, filtered, untyped, sparse_ties;
DROP FUNCTION sparse_hits, sparse_row;
