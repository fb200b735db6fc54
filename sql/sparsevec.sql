-- sparsevec: the non-zero elements of a float4 vector, '{i:x,...}/dim'
-- with indices from 1.  Distances are checked against the same computation
-- on the vector casts, the order against vector's.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ann;
RESET client_min_messages;

-- text input: any order, zeros dropped, spaces anywhere between tokens;
-- output sorted, each value in its shortest form
SELECT '{1:0.5,3:2}/5'::sparsevec;
SELECT '{3:2,1:0.5}/5'::sparsevec;
SELECT '{1:0,3:2,2:-0}/5'::sparsevec;
SELECT '{}/5'::sparsevec, ' { 1 : 1.5 , 2:-2 } / 3 '::sparsevec, '{+1:1}/+3'::sparsevec;
SELECT '{1:1.2345678901,2:-0.000001,3:1e20,4:3.4028235e38,5:1.4e-45}/5'::sparsevec;
SELECT '{1:1}/1000000000'::sparsevec, '{1000000000:-1}/1000000000'::sparsevec;
-- what underflows to zero is a zero
SELECT '{1:1e-50,2:1}/2'::sparsevec;
-- output reads back to the same value
SELECT v, v::text::sparsevec = v AS round_trip
FROM (VALUES ('{1:0.1,2:-3.3333333,7:1e-38}/7'::sparsevec), ('{}/1'), ('{5:65504}/9')) t(v);
-- 16000 stored elements is the limit, zeros in the text count towards it
SELECT l2_norm(('{' || string_agg(i || ':1', ',') || '}/20000')::sparsevec)
FROM generate_series(1, 16000) i;

-- typmods: sparsevec(n) holds values of n dimensions, n in 1..1000000000
CREATE TABLE sv_t (id int, v sparsevec(5));
INSERT INTO sv_t VALUES (1, '{1:1,5:2}/5'), (2, '{}/5'), (3, NULL);
INSERT INTO sv_t VALUES (4, '{1:1}/4');
INSERT INTO sv_t VALUES (4, '[1,0,0,0,3]'::vector), (5, '[0,0,0,0,-1]'::halfvec);
SELECT * FROM sv_t ORDER BY id;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'sv_t'::regclass AND attname = 'v';
SELECT '{1:1}/5'::sparsevec(5), '{1:1}/1000000000'::sparsevec(1000000000);
SELECT '{1:1}/5'::sparsevec(3);
SELECT '{1:1}/5'::sparsevec(0);
SELECT '{1:1}/5'::sparsevec(1000000001);
SELECT '{1:1}/5'::sparsevec(2, 3);
SELECT NULL::sparsevec(1000000000);
DROP TABLE sv_t;

-- casts: from vector and halfvec implicitly, to them by assignment, and
-- from int4[], float4[], float8[] and numeric[] by assignment
SELECT castsource::regtype, casttarget::regtype, castfunc::regprocedure, castcontext
FROM pg_cast WHERE castsource = 'sparsevec'::regtype OR casttarget = 'sparsevec'::regtype
ORDER BY 1::text COLLATE "C", 2::text COLLATE "C";
SELECT '[0,1.5,0,-2]'::vector::sparsevec, '[0,1.5,0,-2]'::halfvec::sparsevec,
	   '[0,0]'::vector::sparsevec, '[1,-0,2]'::vector::sparsevec(3);
SELECT '{2:1.5,4:-2}/4'::sparsevec::vector, '{2:1.5,4:-2}/4'::sparsevec::halfvec,
	   '{}/2'::sparsevec::vector(2);
SELECT ARRAY[0,1,0,2]::sparsevec, ARRAY[0,1.5,0,-2]::real[]::sparsevec,
	   ARRAY[0,1.5,0,-2]::float8[]::sparsevec, ARRAY[0,1.5,0,-2]::numeric[]::sparsevec(4);
-- an array past vector's 16000 elements is fine if few are non-zero
SELECT array_fill(0, ARRAY[20000]) || 7 || array_fill(0, ARRAY[5]) AS a \gset
SELECT :'a'::int[]::sparsevec::text;
-- every vector reads back from its sparsevec, and the reverse
SELECT count(*) FILTER (WHERE v::sparsevec::vector = v) AS vector_same,
	   count(*) FILTER (WHERE v::halfvec::sparsevec::halfvec = v::halfvec) AS halfvec_same,
	   count(*) FILTER (WHERE v::sparsevec::text::sparsevec::vector = v) AS text_same
FROM (SELECT ARRAY[i % 3 - 1, 0, i * 0.5, 0, (i % 7) * 0.25]::vector AS v
	  FROM generate_series(1, 50) i) t;
-- the vector side of a mixed expression is cast implicitly
SELECT '[1,0,2]'::vector <-> '{1:1}/3'::sparsevec;
-- too many dimensions for vector and halfvec, and past halfvec's range
SELECT '{1:1}/16001'::sparsevec::vector;
SELECT '{1:1}/16001'::sparsevec::halfvec;
SELECT '{1:70000}/5'::sparsevec::halfvec;
SELECT '{1:1}/5'::sparsevec::vector(4);
SELECT '[1,0,2]'::vector::sparsevec(4);
SELECT ARRAY[[1,0,2]]::sparsevec;
SELECT ARRAY[1,NULL]::sparsevec;
SELECT '{}'::int[]::sparsevec;
SELECT ARRAY['NaN']::real[]::sparsevec;
SELECT array_fill(1, ARRAY[16001])::sparsevec;

-- operators and functions
SELECT '{1:1,3:2}/3'::sparsevec <-> '{2:1,3:4}/3' AS l2,
	   '{1:1,3:2}/3'::sparsevec <#> '{2:1,3:4}/3' AS neg_ip,
	   '{1:1,3:2}/3'::sparsevec <=> '{2:1,3:4}/3' AS cosine,
	   '{1:1,3:2}/3'::sparsevec <+> '{2:1,3:4}/3' AS l1;
SELECT l2_distance('{1:3}/2'::sparsevec, '{2:4}/2'), inner_product('{1:3,2:1}/2'::sparsevec, '{2:4}/2'),
	   cosine_distance('{1:1}/2'::sparsevec, '{1:-1}/2'), l1_distance('{1:3}/2'::sparsevec, '{2:4}/2'),
	   sparsevec_l2_squared_distance('{1:3}/2', '{2:4}/2'),
	   sparsevec_negative_inner_product('{1:3,2:1}/2', '{2:4}/2');
-- cosine of a zero vector is NaN; distances from a vector to itself
SELECT '{}/3'::sparsevec <=> '{1:1}/3', cosine_distance('{}/3'::sparsevec, '{}/3'),
	   '{1:2,3:1}/3'::sparsevec <-> '{1:2,3:1}/3', '{1:2,3:1}/3'::sparsevec <=> '{1:2,3:1}/3';
SELECT l2_norm('{1:3,2:4}/3'::sparsevec), l2_norm('{}/3'::sparsevec),
	   l2_normalize('{1:3,2:4}/3'::sparsevec), l2_normalize('{}/3'::sparsevec),
	   l2_normalize('{1:1e-45}/3'::sparsevec), l2_normalize('{1:3e38,2:3e38}/3'::sparsevec);
-- an element the normalization rounds to zero is dropped
SELECT l2_normalize('{1:1e30,2:1e-30}/2'::sparsevec);
-- NULLs: strict
SELECT '{1:1}/3'::sparsevec <-> NULL, l2_norm(NULL::sparsevec), l2_normalize(NULL::sparsevec) IS NULL;

-- every distance against the same computation on vectors: exact for
-- values in quarters, whose sums float4 holds exactly
SELECT setseed(0.5);
CREATE TABLE sv_pairs AS
SELECT i, (SELECT array_agg(CASE WHEN random() < 0.3 THEN round((random() * 16 - 8) * 4) / 4 ELSE 0 END)
		   FROM generate_series(1, 1 + i % 40) WHERE i > 0)::vector AS a,
		  (SELECT array_agg(CASE WHEN random() < 0.3 THEN round((random() * 16 - 8) * 4) / 4 ELSE 0 END)
		   FROM generate_series(1, 1 + i % 40) WHERE i > 0)::vector AS b
FROM generate_series(1, 300) i;
SELECT count(*) AS pairs,
	   count(*) FILTER (WHERE a::sparsevec <-> b::sparsevec = a <-> b) AS l2,
	   count(*) FILTER (WHERE a::sparsevec <#> b::sparsevec = a <#> b) AS neg_ip,
	   count(*) FILTER (WHERE a::sparsevec <=> b::sparsevec = a <=> b
						OR ((a::sparsevec <=> b::sparsevec) = 'NaN' AND (a <=> b) = 'NaN')) AS cosine,
	   count(*) FILTER (WHERE a::sparsevec <+> b::sparsevec = a <+> b) AS l1,
	   count(*) FILTER (WHERE inner_product(a::sparsevec, b::sparsevec) = inner_product(a, b)) AS ip,
	   count(*) FILTER (WHERE sparsevec_l2_squared_distance(a::sparsevec, b::sparsevec) =
							  vector_l2_squared_distance(a, b)) AS l2_squared,
	   count(*) FILTER (WHERE l2_norm(a::sparsevec) = vector_norm(a)) AS norm,
	   count(*) FILTER (WHERE l2_normalize(a::sparsevec)::vector = l2_normalize(a)) AS normalize
FROM sv_pairs;
-- and within float4 rounding for arbitrary values
SELECT setseed(0.25);
CREATE TABLE sv_rand AS
SELECT i, (SELECT array_agg(CASE WHEN random() < 0.2 THEN random() * 200 - 100 ELSE 0 END)
		   FROM generate_series(1, 100) WHERE i > 0)::vector AS a,
		  (SELECT array_agg(CASE WHEN random() < 0.2 THEN random() * 200 - 100 ELSE 0 END)
		   FROM generate_series(1, 100) WHERE i > 0)::vector AS b
FROM generate_series(1, 100) i;
SELECT count(*) AS pairs,
	   count(*) FILTER (WHERE abs((a::sparsevec <-> b::sparsevec) - (a <-> b)) <= 1e-5 * (a <-> b)) AS l2,
	   count(*) FILTER (WHERE abs((a::sparsevec <#> b::sparsevec) - (a <#> b)) <=
							  1e-5 * vector_norm(a) * vector_norm(b)) AS neg_ip,
	   count(*) FILTER (WHERE abs((a::sparsevec <=> b::sparsevec) - (a <=> b)) <= 1e-6) AS cosine,
	   count(*) FILTER (WHERE abs((a::sparsevec <+> b::sparsevec) - (a <+> b)) <= 1e-5 * (a <+> b)) AS l1
FROM sv_rand;
DROP TABLE sv_rand;

-- different dimensions, and sums past float4 are errors
SELECT '{1:1}/3'::sparsevec <-> '{1:1}/4';
SELECT inner_product('{1:1}/3'::sparsevec, '{}/2');
SELECT '{1:3e38}/3'::sparsevec <-> '{1:-3e38}/3';
SELECT '{1:3e38,2:3e38}/3'::sparsevec <#> '{1:3e38,2:3e38}/3';

-- btree: the order of the dense vectors (vector's order), then the
-- fewer dimensions first
SELECT '{1:1}/3'::sparsevec < '{1:1}/4', '{1:1}/3'::sparsevec < '{2:1}/3',
	   '{1:-1}/3'::sparsevec < '{}/3', '{1:1,2:-1}/3'::sparsevec < '{1:1}/3',
	   '{1:1}/4'::sparsevec < '{1:2}/3', '{}/4'::sparsevec > '{}/3',
	   '{5:-1}/5'::sparsevec > '{}/3', '{1:1}/3'::sparsevec = '{1:1,2:0}/3',
	   '{1:1}/3'::sparsevec <> '{1:1}/4', sparsevec_cmp('{2:1}/3', '{2:1}/3');
SELECT count(*) AS pairs,
	   count(*) FILTER (WHERE sparsevec_cmp(x.a::sparsevec, y.a::sparsevec) = vector_cmp(x.a, y.a)) AS same_cmp,
	   count(*) FILTER (WHERE (x.a::sparsevec < y.a::sparsevec) = (x.a < y.a)
						AND (x.a::sparsevec <= y.a::sparsevec) = (x.a <= y.a)
						AND (x.a::sparsevec = y.a::sparsevec) = (x.a = y.a)
						AND (x.a::sparsevec <> y.a::sparsevec) = (x.a <> y.a)
						AND (x.a::sparsevec >= y.a::sparsevec) = (x.a >= y.a)
						AND (x.a::sparsevec > y.a::sparsevec) = (x.a > y.a)) AS same_ops
FROM sv_pairs x, sv_pairs y WHERE x.i <= 60 AND y.i <= 60;
CREATE TABLE sv_sorted AS SELECT i, a::sparsevec AS s FROM sv_pairs;
CREATE INDEX ON sv_sorted (s);
SET enable_seqscan = off;
SELECT count(*) FROM sv_sorted WHERE s = (SELECT s FROM sv_sorted WHERE i = 7);
SELECT array_agg(i ORDER BY s, i) = (SELECT array_agg(i ORDER BY a, i) FROM sv_pairs) AS same_order
FROM sv_sorted;
RESET enable_seqscan;
SELECT opcname, opcdefault FROM pg_opclass WHERE opcintype = 'sparsevec'::regtype;
DROP TABLE sv_sorted;
DROP TABLE sv_pairs;

-- the binary format: int32 dim, int32 nnz, int32 unused (0), then the
-- 0-based indices, then the values, big-endian
SELECT sparsevec_send('{1:1.5,3:2}/5'::sparsevec), sparsevec_send('{}/2'::sparsevec);
-- binary COPY round trip
CREATE TABLE sv_cp (id int, v sparsevec, w sparsevec(4));
INSERT INTO sv_cp VALUES (1, '{1:1,3:-2.5}/5', '{4:1e-30}/4'), (2, '{}/1000000000', '{}/4'),
	(3, NULL, '{1:3e38,2:-1,3:1,4:7}/4');
CREATE TEMP TABLE sv_cp_bin (LIKE sv_cp);
COPY sv_cp TO '/tmp/ann_regress_sparsevec.bin' WITH (FORMAT binary);
COPY sv_cp_bin FROM '/tmp/ann_regress_sparsevec.bin' WITH (FORMAT binary);
SELECT a.id, a.v = b.v AS same_v, a.w = b.w AS same_w, b.v, b.w
FROM sv_cp a JOIN sv_cp_bin b USING (id) ORDER BY a.id;
DROP TABLE sv_cp;
-- binary input, well-formed and not.  Each file is a PGCOPY header, one
-- tuple with one field, and the trailer.
CREATE TEMP TABLE sv_bin (v sparsevec);
CREATE TEMP TABLE sv_bin3 (v sparsevec(3));
\set VERBOSITY sqlstate
-- well-formed: {1:1,3:-2}/5
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\34\0\0\0\5\0\0\0\2\0\0\0\0\0\0\0\0\0\0\0\2\77\200\0\0\300\0\0\0\377\377"' WITH (FORMAT binary);
-- no elements: {}/3
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\14\0\0\0\3\0\0\0\0\0\0\0\0\377\377"' WITH (FORMAT binary);
-- nnz 2 but one index and value follow
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\24\0\0\0\5\0\0\0\2\0\0\0\0\0\0\0\0\77\200\0\0\377\377"' WITH (FORMAT binary);
-- a trailing extra byte
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\25\0\0\0\5\0\0\0\1\0\0\0\0\0\0\0\0\77\200\0\0\0\377\377"' WITH (FORMAT binary);
-- unused is not 0
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\24\0\0\0\5\0\0\0\1\0\0\0\1\0\0\0\0\77\200\0\0\377\377"' WITH (FORMAT binary);
-- index 5 of 5 (0-based)
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\24\0\0\0\5\0\0\0\1\0\0\0\0\0\0\0\5\77\200\0\0\377\377"' WITH (FORMAT binary);
-- a negative index
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\24\0\0\0\5\0\0\0\1\0\0\0\0\377\377\377\377\77\200\0\0\377\377"' WITH (FORMAT binary);
-- indices out of order
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\34\0\0\0\5\0\0\0\2\0\0\0\0\0\0\0\2\0\0\0\0\77\200\0\0\100\0\0\0\377\377"' WITH (FORMAT binary);
-- a duplicate index
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\34\0\0\0\5\0\0\0\2\0\0\0\0\0\0\0\1\0\0\0\1\77\200\0\0\100\0\0\0\377\377"' WITH (FORMAT binary);
-- a zero value
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\24\0\0\0\5\0\0\0\1\0\0\0\0\0\0\0\0\0\0\0\0\377\377"' WITH (FORMAT binary);
-- a NaN value
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\24\0\0\0\5\0\0\0\1\0\0\0\0\0\0\0\0\177\300\0\0\377\377"' WITH (FORMAT binary);
-- an infinite value
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\24\0\0\0\5\0\0\0\1\0\0\0\0\0\0\0\0\377\200\0\0\377\377"' WITH (FORMAT binary);
-- dim 0
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\14\0\0\0\0\0\0\0\0\0\0\0\0\377\377"' WITH (FORMAT binary);
-- dim past the limit (1000000001)
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\14\73\232\312\1\0\0\0\0\0\0\0\0\377\377"' WITH (FORMAT binary);
-- nnz past the limit (16001)
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\14\0\0\116\40\0\0\76\201\0\0\0\0\377\377"' WITH (FORMAT binary);
-- a negative nnz
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\14\0\0\0\5\377\377\377\377\0\0\0\0\377\377"' WITH (FORMAT binary);
-- more elements than dimensions
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\34\0\0\0\1\0\0\0\2\0\0\0\0\0\0\0\0\0\0\0\1\77\200\0\0\77\200\0\0\377\377"' WITH (FORMAT binary);
-- a header cut short
COPY sv_bin FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\10\0\0\0\5\0\0\0\0\377\377"' WITH (FORMAT binary);
-- the column's typmod: 5 dimensions into sparsevec(3)
COPY sv_bin3 FROM PROGRAM 'printf "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0\0\1\0\0\0\24\0\0\0\5\0\0\0\1\0\0\0\0\0\0\0\0\77\200\0\0\377\377"' WITH (FORMAT binary);
\set VERBOSITY default
SELECT * FROM sv_bin;

-- the same names, types and properties as pgvector's functions and operators
SELECT p.oid::regprocedure AS function, p.prorettype::regtype AS returns,
	   p.provolatile, p.proisstrict, p.proparallel
FROM pg_proc p
WHERE p.proargtypes::regtype[]::text LIKE '%sparsevec%' OR p.prorettype = 'sparsevec'::regtype
ORDER BY p.oid::regprocedure::text COLLATE "C";
SELECT o.oprname, o.oprresult::regtype, o.oprcode, o.oprcom::regoperator AS commutator,
	   o.oprnegate::regoperator AS negator
FROM pg_operator o WHERE o.oprleft = 'sparsevec'::regtype ORDER BY o.oprname COLLATE "C";

-- malformed text is refused with invalid_text_representation (22P02) or
-- the SQLSTATE that names the problem
\set VERBOSITY sqlstate
SELECT '{1:1}'::sparsevec;
SELECT '{1:1}/'::sparsevec;
SELECT '{1:1}/5x'::sparsevec;
SELECT '{1:1}/5.0'::sparsevec;
SELECT '{1:1,}/5'::sparsevec;
SELECT '{,1:1}/5'::sparsevec;
SELECT '{1:}/5'::sparsevec;
SELECT '{:1}/5'::sparsevec;
SELECT '{1}/5'::sparsevec;
SELECT '{1:1 2:2}/5'::sparsevec;
SELECT '1:1}/5'::sparsevec;
SELECT '[1,2]'::sparsevec;
SELECT '{1:1/5'::sparsevec;
SELECT '{1.5:1}/5'::sparsevec;
SELECT '{a:1}/5'::sparsevec;
SELECT '{1:1.5e}/5'::sparsevec;
SELECT ''::sparsevec;
SELECT '{1:0.5,1:2}/5'::sparsevec;
SELECT '{2:0,2:0}/5'::sparsevec;
SELECT '{}/0'::sparsevec;
SELECT '{1:1}/-1'::sparsevec;
SELECT '{1:1}/1000000001'::sparsevec;
SELECT '{1:1}/99999999999999999999'::sparsevec;
SELECT '{6:1}/5'::sparsevec;
SELECT '{0:1}/5'::sparsevec;
SELECT '{-1:1}/5'::sparsevec;
SELECT '{2147483648:1}/5'::sparsevec;
SELECT '{1:NaN}/5'::sparsevec;
SELECT '{1:Infinity}/5'::sparsevec;
SELECT '{1:-inf}/5'::sparsevec;
SELECT '{1:1e39}/5'::sparsevec;
SELECT ('{' || string_agg(i || ':0', ',') || '}/20000')::sparsevec FROM generate_series(1, 16001) i;
\set VERBOSITY default
-- and the messages themselves
SELECT '{1:1}'::sparsevec;
SELECT '{1:1}/5x'::sparsevec;
SELECT '{1:1 2:2}/5'::sparsevec;
SELECT '[1,2]'::sparsevec;
SELECT '{1:0.5,1:2}/5'::sparsevec;
SELECT '{}/0'::sparsevec;
SELECT '{1:1}/1000000001'::sparsevec;
SELECT '{6:1}/5'::sparsevec;
SELECT '{0:1}/5'::sparsevec;
SELECT '{99999999999999999999:1}/5'::sparsevec;
SELECT '{1:NaN}/5'::sparsevec;
SELECT '{1:1e39}/5'::sparsevec;
SELECT ('{' || string_agg(i || ':1', ',') || '}/20000')::sparsevec FROM generate_series(1, 16001) i;
