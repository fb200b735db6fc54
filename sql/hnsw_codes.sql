-- hnsw with codes of layer-0 neighbours (reloption quantization)
SET client_min_messages = warning;
SET enable_seqscan = off;

-- clustered rows: 40 centres, 300 dimensions (codes by default from 256)
SELECT setseed(0.17);
CREATE TABLE cc (id int, grp int, v vector(300));
INSERT INTO cc
SELECT i, i % 40, (SELECT array_agg(c.x + (random() - 0.5) * 0.6) FROM unnest(centre) WITH ORDINALITY AS c(x, n))
FROM generate_series(1, 3000) i,
	 LATERAL (SELECT array_agg(sin(d * (i % 40 + 1) * 0.37) + cos(d * 0.11 * (i % 40))) AS centre
			  FROM generate_series(1, 300) d) c;
CREATE TABLE cq (qid int, v vector(300));
INSERT INTO cq SELECT id, (SELECT array_agg(x + 0.05) FROM unnest(v::real[]) x) FROM cc WHERE id % 150 = 1;

CREATE INDEX cc_l2 ON cc USING hnsw (v vector_l2_ops);
CREATE INDEX cc_l2_none ON cc USING hnsw (v vector_l2_ops) WITH (quantization = none);
-- the codes take room: the index with them is the larger
SELECT pg_relation_size('cc_l2') > pg_relation_size('cc_l2_none') AS codes_take_room;
SELECT ann_check_index('cc_l2');
DROP INDEX cc_l2_none;

-- recall@10 against exact answers, with and without reading the codes
CREATE FUNCTION recall(op text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
	r numeric;
BEGIN
	SET LOCAL enable_indexscan = off;
	EXECUTE format('CREATE TEMP TABLE truth AS SELECT qid, e.id FROM cq, LATERAL
					(SELECT id FROM cc ORDER BY v %s cq.v LIMIT 10) e', op);
	SET LOCAL enable_indexscan = on;
	SET LOCAL enable_seqscan = off;
	SET LOCAL enable_bitmapscan = off;
	EXECUTE format('SELECT count(*) / (10.0 * (SELECT count(*) FROM cq)) FROM cq, LATERAL
					(SELECT id FROM cc ORDER BY v %s cq.v LIMIT 10) a
					WHERE (qid, a.id) IN (SELECT qid, id FROM truth)', op) INTO r;
	DROP TABLE truth;
	RETURN r;
END $$;

SELECT recall('<->') >= 0.95 AS l2_codes;
SET hnsw.quantized_search = off;
SELECT recall('<->') >= 0.95 AS l2_exact;
RESET hnsw.quantized_search;
EXPLAIN (COSTS OFF) SELECT id FROM cc ORDER BY v <-> (SELECT v FROM cq LIMIT 1) LIMIT 10;

DROP INDEX cc_l2;
CREATE INDEX cc_ip ON cc USING hnsw (v vector_ip_ops);
SELECT recall('<#>') >= 0.95 AS ip_codes;
SELECT ann_check_index('cc_ip');
DROP INDEX cc_ip;
CREATE INDEX cc_cos ON cc USING hnsw (v vector_cosine_ops);
SELECT recall('<=>') >= 0.95 AS cosine_codes;
SELECT ann_check_index('cc_cos');
DROP INDEX cc_cos;

-- halfvec, in an expression index: codes only when asked for (auto
-- gives none: the index without them is the smaller)
CREATE INDEX cc_half_auto ON cc USING hnsw ((v::halfvec(300)) halfvec_l2_ops);
CREATE INDEX cc_half ON cc USING hnsw ((v::halfvec(300)) halfvec_l2_ops) WITH (quantization = rabitq);
SELECT pg_relation_size('cc_half_auto') < pg_relation_size('cc_half') AS halfvec_auto_has_no_codes;
DROP INDEX cc_half_auto;
SELECT count(*) / 200.0 >= 0.95 AS halfvec_codes FROM cq,
	LATERAL (SELECT id FROM cc ORDER BY v::halfvec(300) <-> cq.v::halfvec(300) LIMIT 10) a
	WHERE a.id IN (SELECT id FROM cc ORDER BY (v::halfvec(300) <-> cq.v::halfvec(300)) + 0 LIMIT 10);
SELECT ann_check_index('cc_half');
DROP INDEX cc_half;

-- more bits per dimension (reloption code_bits): larger codes, and
-- estimates close enough for the same recall at every opclass
CREATE INDEX cc_l2_b4 ON cc USING hnsw (v vector_l2_ops) WITH (code_bits = 4);
CREATE INDEX cc_l2_b1 ON cc USING hnsw (v vector_l2_ops) WITH (code_bits = 1);
SELECT pg_relation_size('cc_l2_b4') > pg_relation_size('cc_l2_b1') AS four_bits_take_room;
DROP INDEX cc_l2_b1;
SELECT recall('<->') >= 0.95 AS l2_four_bits;
SELECT ann_check_index('cc_l2_b4');
DROP INDEX cc_l2_b4;
CREATE INDEX cc_ip_b2 ON cc USING hnsw (v vector_ip_ops) WITH (code_bits = 2);
SELECT recall('<#>') >= 0.95 AS ip_two_bits;
SELECT ann_check_index('cc_ip_b2');
DROP INDEX cc_ip_b2;
CREATE INDEX cc_cos_b3 ON cc USING hnsw (v vector_cosine_ops) WITH (code_bits = 3);
SELECT recall('<=>') >= 0.95 AS cosine_three_bits;
SELECT ann_check_index('cc_cos_b3');
DROP INDEX cc_cos_b3;
CREATE INDEX cc_half_b4 ON cc USING hnsw ((v::halfvec(300)) halfvec_l2_ops)
	WITH (quantization = rabitq, code_bits = 4);
SELECT count(*) / 200.0 >= 0.95 AS halfvec_four_bits FROM cq,
	LATERAL (SELECT id FROM cc ORDER BY v::halfvec(300) <-> cq.v::halfvec(300) LIMIT 10) a
	WHERE a.id IN (SELECT id FROM cc ORDER BY (v::halfvec(300) <-> cq.v::halfvec(300)) + 0 LIMIT 10);
SELECT ann_check_index('cc_half_b4');
DROP INDEX cc_half_b4;
-- the signatures of filter columns follow a many-bit code's length
CREATE INDEX cc_grp_b4 ON cc USING hnsw (v vector_l2_ops, grp) WITH (code_bits = 4);
SELECT count(*) = 10 AS ten, bool_and(grp = 3) AS all_match
FROM (SELECT id, grp FROM cc WHERE grp = 3 ORDER BY v <-> (SELECT v FROM cq WHERE qid = 1) LIMIT 10) s;
SELECT array_agg(id) = (SELECT array_agg(id) FROM (SELECT id FROM cc WHERE grp = 3
		ORDER BY (v <-> (SELECT v FROM cq WHERE qid = 1)) + 0 LIMIT 100) e) AS filtered_exact
FROM (SELECT id FROM cc WHERE grp = 3 ORDER BY v <-> (SELECT v FROM cq WHERE qid = 1) LIMIT 100) s;
INSERT INTO cc SELECT id + 20000, grp, (SELECT array_agg(x * 1.03) FROM unnest(v::real[]) x) FROM cc WHERE id <= 300;
DELETE FROM cc WHERE id > 20000 AND id % 2 = 0;
VACUUM cc;
SELECT ann_check_index('cc_grp_b4', true);
DELETE FROM cc WHERE id > 20000;
DROP INDEX cc_grp_b4;
-- eight bits of 300 dimensions: 32 codes do not fit a page (rabitq
-- refuses them, auto leaves them out), 8 (m = 4) do
CREATE INDEX cc_b8 ON cc USING hnsw (v vector_l2_ops) WITH (quantization = rabitq, code_bits = 8);
CREATE INDEX cc_b8_auto ON cc USING hnsw (v vector_l2_ops) WITH (m = 4, code_bits = 8);
SELECT ann_check_index('cc_b8_auto');
DROP INDEX cc_b8_auto;
CREATE INDEX ON cc USING hnsw (v vector_l2_ops) WITH (code_bits = 0);
CREATE INDEX ON cc USING hnsw (v vector_l2_ops) WITH (code_bits = 9);

-- iterative scans: every row once, strict_order in distance order
CREATE INDEX cc_l2 ON cc USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32);
SET hnsw.ef_search = 20;
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_rows, count(*) FILTER (WHERE d < prev) AS out_of_order
FROM (SELECT id, d, lag(d) OVER (ORDER BY n) AS prev
	  FROM (SELECT row_number() OVER () AS n, id, d
			FROM (SELECT id, v <-> (SELECT v FROM cq WHERE qid = 1) AS d FROM cc
				  ORDER BY v <-> (SELECT v FROM cq WHERE qid = 1) LIMIT 3000) a) b) c;
SET hnsw.iterative_scan = relaxed_order;
SELECT count(DISTINCT id) AS every_row FROM (SELECT id FROM cc ORDER BY v <-> (SELECT v FROM cq WHERE qid = 1) LIMIT 5000) s;
-- a selective WHERE clause still gets its rows, the nearest ones
SELECT count(*) FROM (SELECT id FROM cc WHERE id % 37 = 0 ORDER BY v <-> (SELECT v FROM cq WHERE qid = 1) LIMIT 20) s;
RESET hnsw.iterative_scan;
SELECT array_agg(id ORDER BY id) = (SELECT array_agg(id ORDER BY id) FROM
		(SELECT id FROM cc WHERE id % 37 = 0 ORDER BY (v <-> (SELECT v FROM cq WHERE qid = 1)) + 0 LIMIT 20) e) AS filtered_exact
FROM (SELECT id FROM cc WHERE id % 37 = 0 ORDER BY v <-> (SELECT v FROM cq WHERE qid = 1) LIMIT 20) s;
RESET hnsw.ef_search;

-- inserts, deletes and VACUUM keep every code equal to its element's (ann_check_index)
INSERT INTO cc SELECT id + 3000, grp, (SELECT array_agg(x * 1.01) FROM unnest(v::real[]) x) FROM cc WHERE id <= 1000;
SELECT ann_check_index('cc_l2');
DELETE FROM cc WHERE id % 3 = 0;
VACUUM cc;
SELECT ann_check_index('cc_l2', true);
INSERT INTO cc SELECT id + 5000, grp, (SELECT array_agg(x * 0.99) FROM unnest(v::real[]) x) FROM cc WHERE id <= 1500;
SELECT ann_check_index('cc_l2', true);
SELECT recall('<->') >= 0.95 AS l2_after_changes;

-- filter columns with codes
CREATE INDEX cc_filtered ON cc USING hnsw (v vector_l2_ops, grp);
SELECT ann_check_index('cc_filtered');
SELECT count(*) = 10 AS ten, bool_and(grp = 3) AS all_match
FROM (SELECT id, grp FROM cc WHERE grp = 3 ORDER BY v <-> (SELECT v FROM cq WHERE qid = 1) LIMIT 10) s;
-- each code carries its neighbour's signatures, so the coded walk knows
-- which neighbours match: under a filter far from the query (another
-- cluster's rows), one of two other clusters and the query's own, the
-- index returns the rows of an exact scan in its order, before and after
-- inserts and deletes; relaxed_order returns every match once
CREATE FUNCTION filtered_as_exact(cond text, k int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	q vector := (SELECT v FROM cq WHERE qid = 1);
	got int[];
	want int[];
BEGIN
	EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM cc WHERE %s ORDER BY v <-> $1 LIMIT %s) s',
				   cond, k) INTO got USING q;
	EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM cc WHERE %s ORDER BY (v <-> $1) + 0 LIMIT %s) s',
				   cond, k) INTO want USING q;
	RETURN got IS NOT DISTINCT FROM want AND cardinality(got) > 0;
END $$;
SELECT filtered_as_exact('grp = 3', 10) AS other_cluster_10,
	   filtered_as_exact('grp = 3', 200) AS other_cluster_all,
	   filtered_as_exact('grp IN (5, 9)', 60) AS two_clusters,
	   filtered_as_exact('grp = 1', 40) AS own_cluster;
SET hnsw.iterative_scan = relaxed_order;
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_rows, bool_and(grp = 3) AS all_match,
	   count(*) = (SELECT count(*) FROM cc WHERE grp = 3) AS every_match
FROM (SELECT id, grp FROM cc WHERE grp = 3 ORDER BY v <-> (SELECT v FROM cq WHERE qid = 1) LIMIT 500) s;
RESET hnsw.iterative_scan;
INSERT INTO cc SELECT id + 7000, (grp + 1) % 40, (SELECT array_agg(x * 1.02) FROM unnest(v::real[]) x)
FROM cc WHERE id % 4 = 1;
DELETE FROM cc WHERE grp = 3 AND id % 5 = 0;
VACUUM cc;
SELECT ann_check_index('cc_filtered');
SELECT filtered_as_exact('grp = 3', 10) AS other_cluster_10,
	   filtered_as_exact('grp = 3', 300) AS other_cluster_all,
	   filtered_as_exact('grp = 4', 25) AS inserted_rows;
DROP FUNCTION filtered_as_exact(text, int);

-- an index built empty codes relative to a zero centre
CREATE TABLE ce (id int, v vector(300));
CREATE INDEX ce_l2 ON ce USING hnsw (v vector_l2_ops);
INSERT INTO ce SELECT id, v FROM cc WHERE id <= 600;
SELECT ann_check_index('ce_l2');
SELECT count(*) AS found FROM (SELECT id FROM ce ORDER BY v <-> (SELECT v FROM cc WHERE id = 7) LIMIT 5) s
WHERE id = 7;

-- explicit codes on few dimensions, and none where codes cannot be
CREATE TABLE small (v vector(16));
INSERT INTO small SELECT (SELECT array_agg(random()) FROM generate_series(1, 16) WHERE i > 0) FROM generate_series(1, 500) i;
CREATE INDEX small_codes ON small USING hnsw (v vector_l2_ops) WITH (quantization = rabitq);
SELECT ann_check_index('small_codes');
CREATE INDEX ON small USING hnsw (v vector_l1_ops) WITH (quantization = rabitq);
CREATE INDEX ON small USING hnsw ((binary_quantize(v)::bit(16)) bit_hamming_ops) WITH (quantization = rabitq);
CREATE INDEX ON small USING hnsw (v vector_l1_ops) WITH (quantization = auto);
CREATE INDEX ON small USING hnsw (v vector_l2_ops) WITH (quantization = pq);
CREATE TABLE wide (v vector(2000));
CREATE INDEX ON wide USING hnsw (v vector_l2_ops) WITH (quantization = rabitq);
CREATE INDEX wide_auto ON wide USING hnsw (v vector_l2_ops);

DROP TABLE cc, cq, ce, small, wide;
DROP FUNCTION recall(text);
