-- spann vectors split across two pages.  A vector tuple too large for the
-- free space of the page being filled, when that is at least 1 kB, puts
-- its head there and its tail on a new page: at 704 dimensions two whole
-- vectors leave 2.4 kB of a page, so about a third of the rows are split.
-- Scans read both parts (every opclass stays exact with every list
-- probed), VACUUM removes both parts of a dead row and inserts take the
-- space back, and ann_check_index reads every entry's vector.
SET client_min_messages = warning;
SET enable_seqscan = off;
SET spann.probes = 65536;
SET spann.iterative_scan = strict_order;

-- The vector pages of a spann index (flag 0x0020 in the special space)
CREATE EXTENSION pageinspect;
CREATE FUNCTION vector_pages(idx regclass) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM generate_series(1, pg_relation_size(idx) / 8192 - 1) b,
		 LATERAL get_raw_page(idx::text, b::int) raw
	WHERE get_byte(raw, 8188) & 32 <> 0
$$;

SELECT setseed(0.41);
-- (a temporary table: VACUUM removes the deleted rows whatever other
-- sessions see, and autovacuum leaves it alone)
CREATE TEMP TABLE split (id int, v vector(704));
CREATE FUNCTION split_rows(first int, last int) RETURNS void LANGUAGE sql AS $$
	INSERT INTO split
	SELECT i, (SELECT array_agg(sin(d * (i % 12 + 1) * 0.37) + (random() - 0.5) * 0.8)
			   FROM generate_series(1, 704) d)
	FROM generate_series(first, last) i;
$$;

-- Is the index's answer to ORDER BY v <op> query LIMIT 10 the exact one?
CREATE FUNCTION split_exact(col text, op text, query text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	sql text := format('SELECT array_agg(id) FROM (SELECT id FROM split ORDER BY %s %s %s LIMIT 10) s',
					   col, op, query);
	by_index int[];
	exact int[];
BEGIN
	EXECUTE sql INTO by_index;
	SET LOCAL enable_indexscan = off;
	SET LOCAL enable_seqscan = on;
	EXECUTE sql INTO exact;
	RETURN by_index = exact;
END $$;

-- Does a scan of every row return each once, in exact order?
CREATE FUNCTION split_every_row(col text, op text, query text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	ok boolean;
BEGIN
	EXECUTE format('SELECT count(*) = (SELECT count(*) FROM split) AND count(DISTINCT id) = count(*)
						   AND bool_and(d >= prev)
					FROM (SELECT id, d, lag(d) OVER (ORDER BY n) AS prev
						  FROM (SELECT id, d, row_number() OVER () AS n
								FROM (SELECT id, %1$s %2$s %3$s AS d FROM split
									  ORDER BY %1$s %2$s %3$s LIMIT 100000) o) s) t',
				   col, op, query) INTO ok;
	RETURN ok;
END $$;

SELECT split_rows(1, 1000);
CREATE INDEX split_l2 ON split USING spann (v vector_l2_ops);
-- a page holds two whole vectors
SELECT 1000.0 / vector_pages('split_l2') > 2.5 AS vectors_split;
SELECT ann_check_index('split_l2');
SELECT split_exact('v', '<->', '(SELECT v FROM split WHERE id = 7)') AS l2_exact,
	   split_exact('v', '<->', '(SELECT v FROM split WHERE id = 500)') AS l2_exact_2,
	   split_exact('v', '<->', '(SELECT v FROM split WHERE id = 998)') AS l2_exact_3;
SELECT split_every_row('v', '<->', '(SELECT v FROM split WHERE id = 3)') AS every_row_in_order;

-- the other opclasses
CREATE INDEX split_ip ON split USING spann (v vector_ip_ops);
CREATE INDEX split_cos ON split USING spann (v vector_cosine_ops);
SELECT ann_check_index('split_ip'), ann_check_index('split_cos');
SELECT split_exact('v', '<#>', '(SELECT v FROM split WHERE id = 11)') AS ip_exact,
	   split_exact('v', '<=>', '(SELECT v FROM split WHERE id = 11)') AS cosine_exact;
DROP INDEX split_ip, split_cos;

-- deletes and VACUUM: dead split rows lose both parts, and the rows
-- inserted next take the space back
DELETE FROM split WHERE id % 3 = 0;
VACUUM split;
SELECT ann_check_index('split_l2');
CREATE TEMP TABLE sizes AS SELECT vector_pages('split_l2') AS before_inserts;
SELECT split_rows(1001, 1300);
-- 300 new vectors would take some 110 new pages without the freed space
SELECT vector_pages('split_l2') - before_inserts < 40 AS space_reused FROM sizes;
SELECT ann_check_index('split_l2');
SELECT split_exact('v', '<->', '(SELECT v FROM split WHERE id = 1200)') AS l2_exact_after_reuse;
SELECT split_every_row('v', '<->', '(SELECT v FROM split WHERE id = 1004)') AS every_row_after_reuse;

-- an index built empty takes split vectors by inserts
TRUNCATE split;
SELECT split_rows(1, 600);
SELECT 600.0 / vector_pages('split_l2') > 2.5 AS inserts_split;
SELECT ann_check_index('split_l2');
SELECT split_exact('v', '<->', '(SELECT v FROM split WHERE id = 77)') AS inserted_exact;
SELECT split_every_row('v', '<->', '(SELECT v FROM split WHERE id = 78)') AS every_inserted_row;

-- halfvec of 1,408 dimensions: 2,824 bytes a key
CREATE INDEX split_half ON split USING spann (((v || v)::halfvec(1408)) halfvec_l2_ops);
SELECT 600.0 / vector_pages('split_half') > 2.5 AS halfvecs_split;
SELECT ann_check_index('split_half');
SELECT split_exact('(v || v)::halfvec(1408)', '<->',
				   '(SELECT (v || v)::halfvec(1408) FROM split WHERE id = 5)') AS halfvec_exact;

DROP TABLE split;
DROP FUNCTION split_rows, split_exact, split_every_row, vector_pages;
DROP EXTENSION pageinspect;
