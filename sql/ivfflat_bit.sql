-- ivfflat (and spann) on bit(n) keys: bit_hamming_ops.  The rows are
-- unclustered random bits (md5 of the id), fixed so the answers repeat;
-- each check compares the index's answers with the exact ones of a
-- sequential scan.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ann;
RESET client_min_messages;
-- 128 random bits for seed i and a tag
CREATE FUNCTION random_bits(i int, tag text) RETURNS bit(128) IMMUTABLE
	LANGUAGE sql AS $$ SELECT ('x' || md5(i || tag))::bit(128) $$;
CREATE TABLE bits (id int PRIMARY KEY, cat int, s bit(128));
INSERT INTO bits SELECT i, i % 20, random_bits(i, 'row') FROM generate_series(1, 3000) i;
INSERT INTO bits VALUES (0, 0, NULL);
CREATE TABLE queries AS SELECT q, random_bits(q, 'query') AS s FROM generate_series(1, 20) q;
CREATE INDEX bits_ivfflat ON bits USING ivfflat (s bit_hamming_ops) WITH (lists = 30);
-- NULLs are not indexed; no vector pages: entries hold the bits
SELECT lists, entries >= 3000 AS every_row, splits FROM spann_index_stats('bits_ivfflat');
SELECT ann_check_index('bits_ivfflat', true);

SET enable_seqscan = off;
-- a query of another length fails as the operator does on a sequential scan
SELECT id FROM bits ORDER BY s <~> B'101' LIMIT 1;
EXPLAIN (COSTS OFF) SELECT id FROM bits ORDER BY s <~> (SELECT s FROM queries WHERE q = 1) LIMIT 5;

-- Recall@10 of the queries (none is a row): a hit is a row no farther
-- than the exact 10th among the rows that pass filter (many rows tie on
-- a Hamming distance).  Rows come back in distance order and pass it.
CREATE FUNCTION bit_recall(filter text DEFAULT 'true') RETURNS TABLE (recall float8, ordered bool, passing bool)
LANGUAGE plpgsql AS $$
DECLARE
	hits int := 0;
	all_ordered bool := true;
	all_pass bool := true;
	each_passes bool;
	query bit(128);
	dists float8[];
	tenth float8;
BEGIN
	FOR query IN SELECT s FROM queries ORDER BY q LOOP
		EXECUTE format('SELECT array_agg(d ORDER BY n), bool_and(%s) FROM
			(SELECT s <~> $1 AS d, row_number() OVER () AS n, * FROM
			 (SELECT * FROM bits WHERE %s ORDER BY s <~> $1 LIMIT 10) i) x', filter, filter)
			INTO dists, each_passes USING query;
		SET LOCAL enable_indexscan = off;
		SET LOCAL enable_seqscan = on;
		EXECUTE format('SELECT max(d) FROM (SELECT s <~> $1 AS d FROM bits WHERE %s ORDER BY 1 LIMIT 10) e',
			filter) INTO tenth USING query;
		SET LOCAL enable_indexscan = on;
		SET LOCAL enable_seqscan = off;
		hits := hits + (SELECT count(*) FROM unnest(dists) d WHERE d <= tenth);
		all_ordered := all_ordered AND
			(SELECT bool_and(dists[k] <= dists[k + 1]) FROM generate_series(1, 9) k);
		all_pass := all_pass AND each_passes AND cardinality(dists) = 10;
	END LOOP;
	recall := hits / 200.0;
	ordered := all_ordered;
	passing := all_pass;
	RETURN NEXT;
END $$;

-- Unclustered bits are the hard case for lists: a query's nearest rows
-- are spread over many.  At the default ivfflat.probes (1) recall is low;
-- probing half of the 30 lists gives well above 0.9; every list, the
-- exact answer.
SELECT recall < 0.5 AS low_recall, ordered, passing FROM bit_recall();
SET ivfflat.probes = 15;
SELECT recall >= 0.9 AS recall_at_least_90, ordered, passing FROM bit_recall();
SET ivfflat.probes = 30;
SELECT recall = 1 AS exact, ordered, passing FROM bit_recall();
SET ivfflat.probes = 15;

-- every row comes back once through an iterative scan; none without it
-- past the first lists
SELECT count(*) < 3000 AS first_lists_only FROM
	(SELECT id FROM bits ORDER BY s <~> (SELECT s FROM queries WHERE q = 1) LIMIT 5000) a;
SET ivfflat.iterative_scan = relaxed_order;
SELECT count(*), count(DISTINCT id) FROM
	(SELECT id FROM bits ORDER BY s <~> (SELECT s FROM queries WHERE q = 1) LIMIT 5000) a;

-- a selective WHERE clause (one row in 20): the iterative scan finds 10
-- rows that pass, nearly the exact ones; they lie farther from the query,
-- in more lists, so the scan probes more
SET ivfflat.probes = 20;
SELECT recall >= 0.9 AS recall_at_least_90, ordered, passing FROM bit_recall('cat = 7');
SET ivfflat.probes = 15;

-- spann takes the opclass too, here with the filter column in the index:
-- strict_order is exact, filtered or not
CREATE INDEX bits_spann ON bits USING spann (s bit_hamming_ops, cat) WITH (lists = 30);
DROP INDEX bits_ivfflat;
SET spann.iterative_scan = strict_order;
SET spann.probes = 1;
EXPLAIN (COSTS OFF) SELECT id FROM bits WHERE cat = 7 ORDER BY s <~> (SELECT s FROM queries WHERE q = 1) LIMIT 5;
SELECT recall = 1 AS exact, ordered, passing FROM bit_recall();
SELECT recall = 1 AS exact, ordered, passing FROM bit_recall('cat = 7');
RESET spann.iterative_scan;
RESET spann.probes;
DROP INDEX bits_spann;

-- inserts after the build (the lists split), deletes and VACUUM
CREATE INDEX bits_ivfflat ON bits USING ivfflat (s bit_hamming_ops) WITH (lists = 30);
INSERT INTO bits SELECT i, i % 20, random_bits(i, 'row') FROM generate_series(3001, 6000) i;
SELECT splits > 0 AS split FROM spann_index_stats('bits_ivfflat');
SELECT ann_check_index('bits_ivfflat', true);
SELECT recall >= 0.9 AS recall_at_least_90, ordered, passing FROM bit_recall();
DELETE FROM bits WHERE id % 3 = 0;
VACUUM bits;
SELECT ann_check_index('bits_ivfflat', true);
SELECT count(*), count(DISTINCT id) FROM
	(SELECT id FROM bits ORDER BY s <~> (SELECT s FROM queries WHERE q = 2) LIMIT 10000) a;
SELECT recall >= 0.9 AS recall_at_least_90, ordered, passing FROM bit_recall();
SELECT id FROM bits ORDER BY s <~> random_bits(5999, 'row') LIMIT 1;
RESET ivfflat.iterative_scan;
RESET ivfflat.probes;

-- pgvector's idiom: binary quantization in an expression index, then
-- re-rank (the query's literal names its type: binary_quantize takes a
-- vector or a halfvec, and an untyped literal could be either)
CREATE TABLE items (id int, embedding vector(3));
INSERT INTO items SELECT i, ARRAY[sin(i), cos(i * 3), sin(i * 7)] FROM generate_series(1, 500) i;
CREATE INDEX ON items USING ivfflat ((binary_quantize(embedding)::bit(3)) bit_hamming_ops) WITH (lists = 100);
EXPLAIN (COSTS OFF) SELECT id FROM items
	ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::vector) LIMIT 5;
SELECT binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::vector) AS d FROM items
	ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::vector) LIMIT 5;
SELECT id FROM (
	SELECT * FROM items
	ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::vector) LIMIT 20
) candidates ORDER BY embedding <-> '[1,-2,3]' LIMIT 3;

-- bad input
\set VERBOSITY sqlstate
SELECT id FROM bits ORDER BY s <~> '101'::bit(3) LIMIT 1;
CREATE TABLE varying (s bit varying(8));
CREATE INDEX ON varying USING ivfflat (s bit_hamming_ops);
INSERT INTO varying VALUES (B'101');
CREATE TABLE untyped (s bit varying);
CREATE INDEX ON untyped USING ivfflat (s bit_hamming_ops);
CREATE TABLE wide (s bit(64001));
CREATE INDEX ON wide USING ivfflat (s bit_hamming_ops);
CREATE INDEX ON wide USING spann (s bit_hamming_ops);
CREATE INDEX ON bits USING ivfflat (s);
CREATE OPERATOR CLASS bit_jaccard_ops FOR TYPE bit USING ivfflat AS
	OPERATOR 1 <%> (bit, bit) FOR ORDER BY float_ops,
	FUNCTION 1 jaccard_distance(bit, bit);
CREATE INDEX ON bits USING ivfflat (s bit_jaccard_ops);
DROP OPERATOR CLASS bit_jaccard_ops USING ivfflat;
\set VERBOSITY default
-- a NULL query orders nothing, but the scan still returns rows
SELECT count(*) FROM (SELECT id FROM bits ORDER BY s <~> NULL::bit(128) LIMIT 5) n;
-- the widest key fits a page
CREATE TABLE widest (s bit(64000));
INSERT INTO widest SELECT ('x' || repeat(md5(i::text), 500))::bit(64000)
	FROM generate_series(1, 3) i;
CREATE INDEX widest_idx ON widest USING ivfflat (s bit_hamming_ops) WITH (lists = 2);
SET ivfflat.probes = 2;
SELECT count(*) FROM (SELECT 1 FROM widest ORDER BY s <~> (SELECT s FROM widest LIMIT 1) LIMIT 5) w;
SELECT ann_check_index('widest_idx', true);

RESET ivfflat.probes;
RESET enable_seqscan;
DROP TABLE bits, queries, items, varying, untyped, wide, widest;
DROP FUNCTION bit_recall, random_bits;
