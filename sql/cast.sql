-- casts between arrays, vector and halfvec
SELECT ARRAY[1,2,3]::vector;
SELECT ARRAY[1.5,2,3]::real[]::vector;
SELECT ARRAY[1.5,2,3]::double precision[]::vector;
SELECT ARRAY[1.5,2,3]::numeric[]::vector;
SELECT ARRAY[1,2,3]::halfvec;
SELECT ARRAY[1.5,2,3]::real[]::halfvec;
SELECT ARRAY[1.5,2,3]::double precision[]::halfvec;
SELECT ARRAY[1.5,2,3]::numeric[]::halfvec;
SELECT ARRAY[1,2,3]::vector(3);
SELECT ARRAY[1,2,3]::vector(2);
SELECT ARRAY[1,2,3]::halfvec(2);

SELECT '[1,2,3]'::vector::real[];
SELECT '[1.5,2,3]'::halfvec::real[];
SELECT '[1.1,2,3]'::vector::halfvec;
SELECT '[1.1,2,3]'::halfvec::vector;
SELECT '[1,2,3]'::vector::halfvec(3);
SELECT '[1,2,3]'::vector::halfvec(2);
SELECT '[1,2,3]'::halfvec::vector(2);
-- past the float16 range is an error, not Infinity
SELECT '[1,70000]'::vector::halfvec;
SELECT ARRAY[1,70000]::halfvec;

-- assignment casts into columns
CREATE TABLE ct (v vector(3), h halfvec(3));
INSERT INTO ct VALUES (ARRAY[1,2,3], ARRAY[4,5,6]);
INSERT INTO ct VALUES ('[1,2,3]'::halfvec, '[4,5,6]'::vector);
SELECT * FROM ct;
DROP TABLE ct;

-- bad arrays
SELECT ARRAY[[1,2],[3,4]]::vector;
SELECT ARRAY[1,NULL,3]::vector;
SELECT ARRAY[1,NULL,3]::halfvec;
SELECT '{}'::real[]::vector;
SELECT ARRAY['NaN']::real[]::vector;
SELECT ARRAY['Infinity']::double precision[]::vector;
SELECT ARRAY[1e39]::double precision[]::vector;
SELECT ARRAY[1e39]::numeric[]::vector;
SELECT ARRAY['NaN']::numeric[]::halfvec;
