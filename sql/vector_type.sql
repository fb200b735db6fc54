-- vector: text I/O, typmods, storage
CREATE EXTENSION IF NOT EXISTS ann;

SELECT '[1,2,3]'::vector;
SELECT '[-1.5, 2.25 ,3e-2 ]'::vector;
SELECT ' [ 1 , 2 ] '::vector;
SELECT '[1e38,-1e38,1.17549435e-38]'::vector;
-- output is the shortest text that reads back to the same float
SELECT '[0.1,0.2,0.3333333333333,123456789]'::vector;
SELECT '[0.1,0.2,0.3333333333333,123456789]'::vector::text::vector = '[0.1,0.2,0.3333333333333,123456789]'::vector;
SELECT '[1.4e-45]'::vector;
SELECT '[-0]'::vector;

-- typmods
SELECT '[1,2,3]'::vector(3);
SELECT '[1,2]'::vector(3);
SELECT '[1,2,3]'::vector(2);
CREATE TABLE vt (id int, v vector(3));
INSERT INTO vt VALUES (1, '[1,2,3]'), (2, NULL);
INSERT INTO vt VALUES (3, '[1,2]');
SELECT id, v FROM vt ORDER BY id;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'vt'::regclass AND attname = 'v';
SELECT '[1]'::vector(0);
SELECT '[1]'::vector(16001);
SELECT '[1]'::vector(1, 2);
SELECT '[1]'::vector('a');
DROP TABLE vt;

-- 16000 dimensions is the limit
SELECT vector_dims(array_fill(1.5, ARRAY[16000])::vector);
SELECT vector_dims(array_fill(1.5, ARRAY[16001])::vector);
SELECT vector_dims(('[' || repeat('1,', 15999) || '1]')::vector);
SELECT vector_dims(('[' || repeat('1,', 16000) || '1]')::vector);

-- large values survive TOAST and the text round trip
CREATE TABLE vbig (v vector(2000));
INSERT INTO vbig SELECT array_agg(i * 0.5)::vector FROM generate_series(1, 2000) i;
SELECT vector_dims(v), v = (v::text)::vector AS round_trip, l2_distance(v, v) FROM vbig;
DROP TABLE vbig;

SELECT ann_simd_level() IN ('scalar', 'avx2', 'avx512') AS known_level;
