-- hnsw on bit(n) keys: bit_hamming_ops and bit_jaccard_ops.  The rows are
-- fixed (md5 of the id), so the answers are repeatable; each check
-- compares the index's answers with the exact ones of a sequential scan.
SET client_min_messages = warning;
-- 256 bits of md5s of the seed and the tag
CREATE FUNCTION md5_bits(seed int, tag text) RETURNS bit(256) IMMUTABLE
	LANGUAGE sql AS $$ SELECT ('x' || md5(seed || tag || 'a') || md5(seed || tag || 'b'))::bit(256) $$;
-- row i: one of 60 centres with about 1 bit in 8 flipped
CREATE FUNCTION bits_row(i int) RETURNS bit(256) IMMUTABLE
	LANGUAGE sql AS $$ SELECT md5_bits(i % 60, 'centre') #
		(md5_bits(i, 'x') & md5_bits(i, 'y') & md5_bits(i, 'z')) $$;
CREATE TABLE bits (id int PRIMARY KEY, s bit(256));
INSERT INTO bits SELECT i, bits_row(i) FROM generate_series(1, 3000) i;
CREATE INDEX bits_hamming ON bits USING hnsw (s bit_hamming_ops) WITH (m = 8, ef_construction = 32);
CREATE INDEX bits_jaccard ON bits USING hnsw (s bit_jaccard_ops) WITH (m = 8, ef_construction = 32);
SELECT ann_check_index('bits_hamming', true), ann_check_index('bits_jaccard', true);

-- both indexes drive ORDER BY ... LIMIT
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM bits ORDER BY s <~> (SELECT s FROM bits WHERE id = 1) LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM bits ORDER BY s <%> (SELECT s FROM bits WHERE id = 1) LIMIT 5;

-- The 10 nearest of 20 queries through each index: a hit is a row no
-- farther than the exact 10th (many rows tie on a Hamming distance).
-- Distances come back in order, and the query row itself first.
CREATE FUNCTION bit_hits(query int, jaccard bool) RETURNS TABLE (hits int, ordered bool, self_first bool)
LANGUAGE plpgsql AS $$
DECLARE
	q bit(256) := (SELECT s FROM bits WHERE id = query);
	found int[];
	dists float8[];
	tenth float8;
BEGIN
	IF jaccard THEN
		SELECT array_agg(id ORDER BY n), array_agg(d ORDER BY n) INTO found, dists
		FROM (SELECT id, s <%> q AS d, row_number() OVER () AS n
			  FROM (SELECT id, s FROM bits ORDER BY s <%> q LIMIT 10) i) x;
		SET LOCAL enable_indexscan = off;
		SELECT max(d) INTO tenth FROM (SELECT s <%> q AS d FROM bits ORDER BY 1 LIMIT 10) e;
	ELSE
		SELECT array_agg(id ORDER BY n), array_agg(d ORDER BY n) INTO found, dists
		FROM (SELECT id, s <~> q AS d, row_number() OVER () AS n
			  FROM (SELECT id, s FROM bits ORDER BY s <~> q LIMIT 10) i) x;
		SET LOCAL enable_indexscan = off;
		SELECT max(d) INTO tenth FROM (SELECT s <~> q AS d FROM bits ORDER BY 1 LIMIT 10) e;
	END IF;
	RESET enable_indexscan;
	hits := (SELECT count(*) FROM unnest(dists) d WHERE d <= tenth);
	ordered := (SELECT bool_and(dists[k] <= dists[k + 1]) FROM generate_series(1, 9) k);
	self_first := found[1] = query;
	RETURN NEXT;
END $$;
SELECT jaccard, sum(hits) >= 190 AS recall_at_least_95, bool_and(ordered) AS ordered,
	bool_and(self_first) AS self_first
FROM (VALUES (false), (true)) m(jaccard),
	LATERAL (SELECT (bit_hits(q * 150, jaccard)).* FROM generate_series(1, 20) q) h
GROUP BY jaccard ORDER BY jaccard;

-- every row comes back, once, through either index
SET hnsw.iterative_scan = relaxed_order;
SELECT count(*), count(DISTINCT id) FROM
	(SELECT id FROM bits ORDER BY s <~> (SELECT s FROM bits WHERE id = 7) LIMIT 5000) a;
SELECT count(*), count(DISTINCT id) FROM
	(SELECT id FROM bits ORDER BY s <%> (SELECT s FROM bits WHERE id = 7) LIMIT 5000) a;
RESET hnsw.iterative_scan;

-- inserts after the build, and VACUUM
INSERT INTO bits SELECT i, bits_row(i) FROM generate_series(3001, 3500) i;
DELETE FROM bits WHERE id % 7 = 0;
VACUUM bits;
SELECT ann_check_index('bits_hamming', true), ann_check_index('bits_jaccard', true);
SELECT id FROM bits ORDER BY s <~> (SELECT s FROM bits WHERE id = 3333) LIMIT 1;
-- a query of another length fails as the operator does on a sequential scan
SELECT id FROM bits ORDER BY s <~> B'101' LIMIT 1;

-- pgvector's idiom: binary quantization in an expression index, then re-rank
CREATE TABLE items (id int, embedding vector(4));
INSERT INTO items VALUES (1, '[1,-1,2,-3]'), (2, '[-1,1,0,2]'), (3, '[1,1,1,1]'), (4, '[2,-2,3,-1]');
CREATE INDEX ON items USING hnsw ((binary_quantize(embedding)::bit(4)) bit_hamming_ops);
EXPLAIN (COSTS OFF) SELECT id FROM items
	ORDER BY binary_quantize(embedding)::bit(4) <~> binary_quantize('[1,-1,1,-1]'::vector) LIMIT 3;
SELECT id FROM (
	SELECT * FROM items
	ORDER BY binary_quantize(embedding)::bit(4) <~> binary_quantize('[1,-1,1,-1]'::vector) LIMIT 3
) candidates ORDER BY embedding <-> '[1,-1,1,-1]'::vector LIMIT 2;

-- bad input
\set VERBOSITY sqlstate
SELECT id FROM bits ORDER BY s <~> '101'::bit(3) LIMIT 1;
CREATE TABLE untyped (s bit varying);
CREATE INDEX ON untyped USING hnsw (s bit_hamming_ops);
CREATE TABLE wide (s bit(64001));
CREATE INDEX ON wide USING hnsw (s bit_hamming_ops);
CREATE INDEX ON bits USING spann (s);
CREATE INDEX ON bits USING hnsw (s);
\set VERBOSITY default
-- the widest key fits a page
CREATE TABLE widest (s bit(64000));
INSERT INTO widest SELECT ('x' || repeat(md5(i::text), 500))::bit(64000)
	FROM generate_series(1, 3) i;
CREATE INDEX ON widest USING hnsw (s bit_hamming_ops);
SELECT count(*) FROM (SELECT 1 FROM widest ORDER BY s <~> (SELECT s FROM widest LIMIT 1) LIMIT 5) w;

DROP TABLE bits, items, untyped, wide, widest;
DROP FUNCTION bit_hits, bits_row, md5_bits;
