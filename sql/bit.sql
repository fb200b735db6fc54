-- bit: Hamming (<~>) and Jaccard (<%>) distances on PostgreSQL's bit type,
-- and binary_quantize of vector and halfvec
SELECT hamming_distance(B'1010', B'0110'), B'1010' <~> B'0110',
	   jaccard_distance(B'1100', B'1010'), B'1100' <%> B'1010';
SELECT B'1' <~> B'1', B'1' <~> B'0', B'0' <%> B'0', B'1' <%> B'1', B'10' <%> B'01';
-- Jaccard of two strings with no bit set in both is 1, all-zero ones too
SELECT B'0000' <%> B'0000', B'1000' <%> B'0001', B'0000' <%> B'0101';
-- empty strings: nothing differs, nothing is shared
SELECT B'' <~> B'', B'' <%> B'', hamming_distance(''::varbit, ''::varbit);
-- varbit and bit(n) values work as they are
SELECT '1011'::varbit <~> '0011'::bit(4), '101'::bit varying(10) <%> '111'::varbit;
SELECT pg_typeof(B'1' <~> B'1'), pg_typeof(jaccard_distance(B'1', B'1'));
-- NULLs: strict
SELECT B'101' <~> NULL, NULL <%> B'101', hamming_distance(NULL, NULL) IS NULL AS null_null;

-- the same names, types and properties as pgvector's functions and operators
SELECT p.oid::regprocedure AS function, p.prorettype::regtype AS returns,
	   p.provolatile, p.proisstrict, p.proparallel
FROM pg_proc p
WHERE p.proname IN ('hamming_distance', 'jaccard_distance', 'binary_quantize')
ORDER BY p.oid::regprocedure::text COLLATE "C";
SELECT o.oprname, o.oprleft::regtype, o.oprright::regtype, o.oprresult::regtype,
	   o.oprcode, o.oprcom::regoperator AS commutator
FROM pg_operator o WHERE o.oprname IN ('<~>', '<%>') ORDER BY o.oprname COLLATE "C";

-- different lengths: data_exception (22000), with both lengths named
SELECT B'101' <~> B'1010';
SELECT jaccard_distance(B'1', B'');
SELECT repeat('1', 64000)::varbit <%> repeat('1', 64001)::varbit;
\set VERBOSITY sqlstate
SELECT B'101' <~> B'1010';
SELECT B'' <%> B'0';
SELECT hamming_distance(repeat('0', 64000)::varbit, repeat('0', 63999)::varbit);
\set VERBOSITY default

-- random strings of many lengths and densities (up to 100,000 bits),
-- against counts made in SQL: Hamming is the number of ones in a XOR b,
-- Jaccard 1 - |a AND b| / |a OR b|
SELECT setseed(0.25);
CREATE TABLE bit_pairs AS
SELECT n, density,
	   (SELECT string_agg(CASE WHEN random() < density THEN '1' ELSE '0' END, '' ORDER BY i)
		FROM generate_series(1, n) i)::varbit AS a,
	   (SELECT string_agg(CASE WHEN random() < density THEN '1' ELSE '0' END, '' ORDER BY i)
		FROM generate_series(1, n) i)::varbit AS b
FROM (SELECT n FROM generate_series(1, 300) n
	  UNION ALL SELECT unnest(ARRAY[511, 512, 513, 1023, 1024, 1025, 2047, 2048, 2049,
									4095, 4096, 4097, 16000, 63999, 64000, 64001, 100000])) lengths,
	 unnest(ARRAY[0.02, 0.5, 0.97]) density;
SELECT count(*) AS pairs,
	   count(*) FILTER (WHERE a <~> b = length(replace((a # b)::text, '0', ''))) AS hamming_ok,
	   count(*) FILTER (WHERE hamming_distance(b, a) = a <~> b) AS hamming_symmetric,
	   count(*) FILTER (WHERE a <%> b IS NOT DISTINCT FROM
						CASE WHEN bit_count(a & b) = 0 THEN 1
							 ELSE 1 - bit_count(a & b)::float8 / bit_count(a | b) END) AS jaccard_ok,
	   count(*) FILTER (WHERE jaccard_distance(b, a) = a <%> b) AS jaccard_symmetric,
	   count(*) FILTER (WHERE a <~> a = 0 AND (a <%> a = 0 OR bit_count(a) = 0)) AS self_ok
FROM bit_pairs;
-- a substring starts at any bit, so the strings' bytes are shifted
SELECT count(*) FILTER (WHERE substring(a FROM s) <~> substring(b FROM s) =
						length(replace((substring(a FROM s) # substring(b FROM s))::text, '0', '')))
	   AS shifted_ok
FROM bit_pairs, generate_series(2, 9) s WHERE n > 9 AND n <= 2049;
DROP TABLE bit_pairs;

-- binary_quantize: bit i set when element i is positive (zero, -0 and
-- negatives give 0), for both types
SELECT binary_quantize('[1,-1,0,2,-0,1e-45,-1e-45,3e38]'::vector),
	   binary_quantize('[1,-1,0,2,-0,6e-8,-6e-8,65504]'::halfvec);
SELECT binary_quantize('[0.5]'::vector), binary_quantize('[-0.5]'::halfvec),
	   pg_typeof(binary_quantize('[1]'::vector)), binary_quantize(NULL::vector) IS NULL AS strict;
SELECT setseed(0.5);
CREATE TABLE bq (id int, v vector);
INSERT INTO bq
SELECT d, (SELECT array_agg(CASE WHEN random() < 0.1 THEN 0 ELSE random() - 0.5 END)
		   FROM generate_series(1, d))::vector
FROM generate_series(1, 70) d
UNION ALL SELECT 16000, (SELECT array_agg(random() - 0.5) FROM generate_series(1, 16000))::vector;
SELECT count(*) AS vectors,
	   count(*) FILTER (WHERE binary_quantize(v)::text =
						(SELECT string_agg(CASE WHEN x > 0 THEN '1' ELSE '0' END, '' ORDER BY i)
						 FROM unnest(v::real[]) WITH ORDINALITY u(x, i))) AS vector_ok,
	   count(*) FILTER (WHERE binary_quantize(v::halfvec)::text =
						(SELECT string_agg(CASE WHEN x > 0 THEN '1' ELSE '0' END, '' ORDER BY i)
						 FROM unnest(v::halfvec::real[]) WITH ORDINALITY u(x, i))) AS halfvec_ok,
	   count(*) FILTER (WHERE bit_length(binary_quantize(v)) = vector_dims(v)) AS length_ok
FROM bq;
DROP TABLE bq;

-- the re-ranking idiom: candidates by the Hamming distance of quantized
-- vectors, then ordered by the exact distance
CREATE TABLE items (id int, embedding vector(3));
INSERT INTO items VALUES (1, '[1,-2,3]'), (2, '[2,-1,2]'), (3, '[-1,2,-3]'), (4, '[5,-5,0.1]'),
	(5, '[1,2,3]'), (6, NULL);
SELECT id, binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::vector) AS hamming
FROM items ORDER BY 2, id;
SELECT id FROM (
	SELECT * FROM items
	ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::vector), id
	LIMIT 3) candidates
ORDER BY embedding <-> '[1,-2,3]', id;
DROP TABLE items;
