-- spann's codes at every width: with fewer probes than lists a scan
-- bounds entries by their codes and reranks only those that can still
-- enter the answer.  However many bits a code has, the rows come back in
-- exact distance order but for the rare entry whose code misses its
-- bound, and the answers match those of the widest codes as closely (the
-- lists probed are the same: the build does not depend on the code
-- width).  Strict order and a scan of every list stay exact.
SET enable_seqscan = off;
SELECT setseed(0.25);
CREATE TABLE sc (id int, v vector(48));
-- unclustered: every coordinate uniform, with a small drift by id
INSERT INTO sc SELECT i, array_agg(random() - 0.5 + (i % 7) * 0.02 ORDER BY d)
FROM generate_series(1, 3000) i, generate_series(1, 48) d GROUP BY i;
CREATE TABLE sc_q (q vector(48));
INSERT INTO sc_q SELECT array_agg(random() - 0.5 + j * 0.01 ORDER BY d)
FROM generate_series(1, 15) j, generate_series(1, 48) d GROUP BY j;

-- For each query, the ids the index returns for ORDER BY v op q LIMIT k,
-- whether they came in exact distance order, and whether there were k.
CREATE FUNCTION code_answers(op text, k int, OUT answers text, OUT ordered bool, OUT complete bool)
LANGUAGE plpgsql AS $$
DECLARE
	r record;
	ids int[];
	ds float8[];
BEGIN
	answers := '';
	ordered := true;
	complete := true;
	FOR r IN SELECT q FROM sc_q LOOP
		EXECUTE format('SELECT array_agg(id ORDER BY n), array_agg(d ORDER BY n) FROM
			(SELECT id, v %s $1 AS d, row_number() OVER () AS n FROM
			 (SELECT id, v FROM sc ORDER BY v %s $1 LIMIT $2) s) t', op, op)
			INTO ids, ds USING r.q, k;
		answers := answers || ids::text;
		complete := complete AND array_length(ids, 1) = k;
		FOR i IN 2 .. coalesce(array_length(ds, 1), 0) LOOP
			ordered := ordered AND ds[i - 1] <= ds[i];
		END LOOP;
	END LOOP;
END $$;

-- The rows the index returns for each query, with their rank and distance
CREATE TABLE sc_rows (bits int, qn int, rank int, id int, d float8);
CREATE FUNCTION record_rows(bits int, op text, k int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT row_number() OVER () AS qn, q FROM sc_q LOOP
		EXECUTE format('INSERT INTO sc_rows SELECT $3, $4, row_number() OVER (), id, v %s $1
			FROM (SELECT id, v FROM sc ORDER BY v %s $1 LIMIT $2) s', op, op)
			USING r.q, k, bits, r.qn;
	END LOOP;
END $$;

-- Indexes WITH (lists = 30, code_bits = 8, 1, 2 and 4) at 4 probes, each
-- beside the 8-bit codes: the share of those rows it returns too, and
-- the share of its rows that came after a farther one.  A code's bound
-- fails for a few entries in a thousand, so both are near, not at, 1
-- and 0; each index passes ann_check_index.
CREATE FUNCTION compare_widths(opclass text, op text, k int)
RETURNS TABLE (bits int, agreement_99 bool, in_order_99 bool, complete bool, checked bool)
LANGUAGE plpgsql AS $$
BEGIN
	TRUNCATE sc_rows;
	FOREACH bits IN ARRAY ARRAY[8, 1, 2, 4] LOOP
		EXECUTE format('CREATE INDEX sc_idx ON sc USING spann (v %s) WITH (lists = 30, code_bits = %s)',
					   opclass, bits);
		PERFORM record_rows(bits, op, k);
		checked := ann_check_index('sc_idx', true) IS NOT NULL;
		DROP INDEX sc_idx;
		SELECT count(w.id)::float8 / count(*) >= 0.99 INTO agreement_99
		FROM sc_rows e LEFT JOIN sc_rows w ON w.bits = compare_widths.bits AND w.qn = e.qn AND w.id = e.id
		WHERE e.bits = 8;
		SELECT count(*) FILTER (WHERE a.d > b.d)::float8 / count(*) <= 0.01 INTO in_order_99
		FROM sc_rows a JOIN sc_rows b ON a.bits = b.bits AND a.qn = b.qn AND b.rank = a.rank + 1
		WHERE a.bits = compare_widths.bits;
		SELECT count(*) = k * (SELECT count(*) FROM sc_q) INTO complete
		FROM sc_rows r WHERE r.bits = compare_widths.bits;
		RETURN NEXT;
	END LOOP;
END $$;

-- the first probe only: its rows are the nearest of the probed lists
SET spann.probes = 4;
SET spann.iterative_scan = off;
SELECT * FROM compare_widths('vector_l2_ops', '<->', 10);
SELECT * FROM compare_widths('vector_l2_ops', '<->', 100);
SELECT * FROM compare_widths('vector_ip_ops', '<#>', 10);
SELECT * FROM compare_widths('vector_cosine_ops', '<=>', 10);
RESET spann.iterative_scan;

-- the default width (1 bit); the build stores the width, so ALTER INDEX
-- changes nothing until REINDEX
CREATE INDEX sc_default ON sc USING spann (v) WITH (lists = 30);
SELECT (code_answers('<->', 10)).ordered, (code_answers('<->', 10)).complete, ann_check_index('sc_default', true) IS NOT NULL AS checked;
ALTER INDEX sc_default SET (code_bits = 4);
SELECT (code_answers('<->', 10)).ordered, (code_answers('<->', 10)).complete, ann_check_index('sc_default', true) IS NOT NULL AS checked;
REINDEX INDEX sc_default;
SELECT (code_answers('<->', 10)).ordered, (code_answers('<->', 10)).complete, ann_check_index('sc_default', true) IS NOT NULL AS checked;
DROP INDEX sc_default;

-- inserts code their entries at the index's width, splits code them again
CREATE INDEX sc_idx ON sc USING spann (v) WITH (lists = 30, code_bits = 3);
INSERT INTO sc SELECT i, array_agg(random() - 0.5 + (i % 5) * 0.03 ORDER BY d)
FROM generate_series(3001, 6000) i, generate_series(1, 48) d GROUP BY i;
SELECT splits > 0 AS split FROM spann_index_stats('sc_idx');
SELECT (code_answers('<->', 10)).ordered, (code_answers('<->', 10)).complete, ann_check_index('sc_idx', true) IS NOT NULL AS checked;
-- every row once, in exact order, past every probed list
SET spann.iterative_scan = relaxed_order;
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_rows
FROM (SELECT id FROM sc ORDER BY v <-> (SELECT q FROM sc_q LIMIT 1) LIMIT 7000) s;
-- strict order: exact whatever the codes
SET spann.iterative_scan = strict_order;
CREATE TEMP TABLE exact_answers AS SELECT * FROM code_answers('<->', 10) WITH NO DATA;
SET enable_seqscan = on;
SET enable_indexscan = off;
INSERT INTO exact_answers SELECT * FROM code_answers('<->', 10);
SET enable_seqscan = off;
SET enable_indexscan = on;
SELECT (SELECT answers FROM code_answers('<->', 10)) = answers AS strict_exact FROM exact_answers;
RESET spann.iterative_scan;
DROP INDEX sc_idx;

-- halfvec keys
CREATE INDEX sc_half ON sc USING spann ((v::halfvec(48)) halfvec_l2_ops) WITH (lists = 30, code_bits = 2);
SELECT count(*) AS rows FROM (SELECT id FROM sc ORDER BY v::halfvec(48) <-> (SELECT q FROM sc_q LIMIT 1)::halfvec(48) LIMIT 20) s;
SELECT ann_check_index('sc_half', true) IS NOT NULL AS checked;
DROP INDEX sc_half;

-- the default width (code_bits = 0): 4 bits up to 256 dimensions, 1
-- above; a build is the same at the same width, so are the sizes (few
-- long lists, so that wider codes take more pages)
SET max_parallel_maintenance_workers = 0;
CREATE INDEX sc_auto ON sc USING spann (v) WITH (lists = 2);
CREATE INDEX sc_4 ON sc USING spann (v) WITH (lists = 2, code_bits = 4);
CREATE INDEX sc_1 ON sc USING spann (v) WITH (lists = 2, code_bits = 1);
SELECT pg_relation_size('sc_auto') = pg_relation_size('sc_4') AS four_bits_at_48,
	   pg_relation_size('sc_auto') > pg_relation_size('sc_1') AS more_than_one;
DROP INDEX sc_auto, sc_4, sc_1;
CREATE TABLE sc_wide (v vector(300));
INSERT INTO sc_wide SELECT (SELECT array_agg(random()) FROM generate_series(1, 300) WHERE i > 0)
FROM generate_series(1, 500) i;
CREATE INDEX sc_wide_auto ON sc_wide USING spann (v) WITH (lists = 2);
CREATE INDEX sc_wide_1 ON sc_wide USING spann (v) WITH (lists = 2, code_bits = 1);
CREATE INDEX sc_wide_2 ON sc_wide USING spann (v) WITH (lists = 2, code_bits = 2);
SELECT pg_relation_size('sc_wide_auto') = pg_relation_size('sc_wide_1') AS one_bit_at_300,
	   pg_relation_size('sc_wide_auto') < pg_relation_size('sc_wide_2') AS less_than_two;
DROP TABLE sc_wide;
RESET max_parallel_maintenance_workers;

-- bad widths; ivfflat takes only pgvector's reloption
CREATE INDEX ON sc USING spann (v) WITH (code_bits = 9);
CREATE INDEX ON sc USING spann (v) WITH (code_bits = -1);
CREATE INDEX ON sc USING ivfflat (v) WITH (code_bits = 2);
-- codes too wide for a page: an error at CREATE INDEX, even on an empty
-- table (it used to be accepted there, and every INSERT failed with an
-- internal error); 7 bits fit at 9,000 dimensions
CREATE TABLE sc_huge (v vector(9000));
CREATE INDEX ON sc_huge USING spann (v) WITH (code_bits = 8);
CREATE INDEX sc_huge_7 ON sc_huge USING spann (v) WITH (code_bits = 7);
INSERT INTO sc_huge SELECT array_fill(0.5::real, ARRAY[9000])::vector;
SELECT count(*) FROM (SELECT FROM sc_huge ORDER BY v <-> array_fill(0.5::real, ARRAY[9000])::vector LIMIT 5) s;
DROP TABLE sc_huge;

DROP TABLE sc, sc_q, sc_rows;
DROP FUNCTION compare_widths, record_rows, code_answers;
RESET spann.probes;
RESET enable_seqscan;
