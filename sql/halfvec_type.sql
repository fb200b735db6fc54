-- halfvec: text I/O, typmods, float16 rounding and range
SELECT '[1,2,3]'::halfvec;
SELECT '[-1.5, 2.25 ,3e-2 ]'::halfvec;
-- each element prints as the shortest text of its value widened to
-- float32 (0.1 is stored as 0.099975586), as pgvector prints it
SELECT '[1.234]'::halfvec, '[-0.0,0.5,1e-7,65504]'::halfvec;
SELECT '[0.1,0.2,0.333333,1000.3,65504,-65504]'::halfvec;
SELECT '[0.1,0.2,0.333333,1000.3,65504]'::halfvec::text::halfvec = '[0.1,0.2,0.333333,1000.3,65504]'::halfvec;
-- rounding: to nearest, ties to even; subnormals; underflow to zero
SELECT '[1.00048828125, 1.00146484375, 5.96e-8, 1e-9, 6.1035e-05]'::halfvec;
SELECT '[65519]'::halfvec;
SELECT '[65520]'::halfvec;
SELECT '[-1e5]'::halfvec;

SELECT '[1,2,3]'::halfvec(3);
SELECT '[1,2]'::halfvec(3);
CREATE TABLE ht (id int, h halfvec(2));
INSERT INTO ht VALUES (1, '[1,2]'), (2, NULL);
INSERT INTO ht VALUES (3, '[1,2,3]');
SELECT id, h FROM ht ORDER BY id;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'ht'::regclass AND attname = 'h';
SELECT '[1]'::halfvec(0);
SELECT '[1]'::halfvec(16001);
DROP TABLE ht;

SELECT vector_dims(array_fill(1, ARRAY[16000])::halfvec);
SELECT vector_dims(array_fill(1, ARRAY[16001])::halfvec);

-- every finite float16 survives the text round trip: build each bit
-- pattern's value exactly in float8, (1024 + m) * 2^(e - 25) for normals
-- and m * 2^-24 for subnormals
SELECT count(*) AS finite_patterns,
	   count(*) FILTER (WHERE h::text::halfvec = h) AS round_trips,
	   count(DISTINCT h::text) AS distinct_texts
FROM (SELECT array_to_halfvec(ARRAY[sign * CASE WHEN e = 0 THEN m * 2.0::float8 ^ -24
											   ELSE (1024 + m) * 2.0::float8 ^ (e - 25) END],
							  1, true) AS h
	  FROM generate_series(0, 1023) m, generate_series(0, 30) e, unnest(ARRAY[-1, 1]) sign) s;
