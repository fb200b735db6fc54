-- arithmetic and the other functions, on both types
SELECT '[1,2,3]'::vector + '[4,5,6]', '[1,2,3]'::vector - '[4,5,6]', '[1,2,3]'::vector * '[4,5,6]';
SELECT '[1,2,3]'::halfvec + '[4,5,6]', '[1,2,3]'::halfvec - '[4,5,6]', '[1,2,3]'::halfvec * '[4,5,6]';
SELECT '[1,2]'::vector || '[3]', '[1,2]'::halfvec || '[3]';
SELECT '[1,2]'::vector + '[3]';
SELECT '[1,2]'::halfvec * '[3]';
SELECT '[3e38]'::vector + '[3e38]';
SELECT '[-3e38]'::vector - '[3e38]';
SELECT '[1e20]'::vector * '[1e20]';
SELECT '[60000]'::halfvec + '[60000]';
SELECT '[300]'::halfvec * '[300]';
-- a product of two non-zero elements that rounds to zero is an underflow,
-- as in float4 arithmetic; products of zeros, subnormal results, and sums
-- or differences that cancel exactly are not
SELECT '[1e-37]'::vector * '[1e-37]';
SELECT '[2,1e-30]'::vector * '[3,1e-30]';
SELECT '[1e-4]'::halfvec * '[1e-4]';
SELECT '[2,1e-4]'::halfvec * '[3,-1e-4]';
SELECT '[0,-0,1e-37,0]'::vector * '[1e-37,1e-37,0,0]', '[1e-30]'::vector * '[1e-15]', '[2,1e-20]'::vector * '[3,1e-20]';
SELECT '[0,1e-4]'::halfvec * '[1e-4,0]', '[1e-4]'::halfvec * '[3e-4]', '[1e-3]'::halfvec * '[1e-4]';
SELECT '[1e-38]'::vector - '[1e-38]', '[1e-37]'::vector + '[-1e-37]', '[6e-8]'::halfvec - '[6e-8]';
\set VERBOSITY sqlstate
SELECT '[1e-37]'::vector * '[1e-37]';
SELECT '[1e-4]'::halfvec * '[1e-4]';
SELECT '[1e20]'::vector * '[1e20]';
SELECT '[300]'::halfvec * '[300]';
\set VERBOSITY default
SELECT vector_dims(array_fill(1, ARRAY[10000])::vector || array_fill(1, ARRAY[6001])::vector);

SELECT vector_dims('[1,2,3]'::vector), vector_dims('[1,2]'::halfvec);
SELECT vector_norm('[3,4]'::vector), l2_norm('[3,4]'::halfvec), vector_norm('[0,0]'::vector);
SELECT l2_normalize('[3,4]'::vector), l2_normalize('[3,4]'::halfvec);
SELECT l2_normalize('[0,0]'::vector), l2_normalize('[0,0]'::halfvec);
SELECT l2_normalize('[3e38,3e38]'::vector);

SELECT subvector('[1,2,3,4,5]'::vector, 2, 3), subvector('[1,2,3,4,5]'::halfvec, 2, 3);
SELECT subvector('[1,2,3,4,5]'::vector, 4, 10), subvector('[1,2,3,4,5]'::vector, -1, 3);
SELECT subvector('[1,2,3,4,5]'::vector, 1, 2147483647);
SELECT subvector('[1,2,3,4,5]'::vector, 6, 1);
SELECT subvector('[1,2,3,4,5]'::vector, 2, 0);
SELECT subvector('[1,2,3,4,5]'::halfvec, -5, 3);
-- subvector bounds: huge and negative starts and counts, whose sum
-- overflows int32
\set VERBOSITY sqlstate
SELECT subvector('[1,2,3]'::vector, 2147483647, 2147483647);
SELECT subvector('[1,2,3]'::vector, -2147483648, 2147483647);
SELECT subvector('[1,2,3]'::vector, -2147483648, -2147483648);
SELECT subvector('[1,2,3]'::vector, 2, -1);
SELECT subvector('[1,2,3]'::vector, 0, 1);
SELECT subvector('[1,2,3]'::vector, 4, 1);
SELECT subvector('[1,2,3]'::halfvec, 2147483647, 2147483647);
SELECT subvector('[1,2,3]'::halfvec, -2147483647, -2);
SELECT subvector('[1,2,3]'::halfvec, 2, -2147483648);
SELECT subvector('[1,2,3]'::vector, 3, 2147483647), subvector('[1,2,3]'::halfvec, 3, 2147483647);
SELECT subvector('[1,2,3]'::vector, -2147483647, 2147483647);
SELECT subvector('[1,2,3]'::vector, 0, 2), subvector('[1,2,3]'::halfvec, -1, 3);
-- concatenation past 16000 dimensions, either side
SELECT vector_dims(array_fill(1, ARRAY[16000])::vector || '[1]');
SELECT vector_dims('[1]'::vector || array_fill(1, ARRAY[16000])::vector);
SELECT vector_dims(array_fill(1, ARRAY[16000])::halfvec || '[1]'::halfvec);
SELECT vector_dims(array_fill(1, ARRAY[8001])::halfvec || array_fill(1, ARRAY[8000])::halfvec);
SELECT vector_dims(array_fill(1, ARRAY[8000])::halfvec || array_fill(1, ARRAY[8000])::halfvec);
\set VERBOSITY default
SELECT subvector('[1,2,3]'::vector, 2147483647, 2147483647);
SELECT '[1]'::halfvec || array_fill(1, ARRAY[16000])::halfvec;

-- STRICT: NULL in, NULL out
SELECT l2_distance(NULL::vector, '[1]') IS NULL, vector_dims(NULL::halfvec) IS NULL;

-- volatility and parallel safety as promised
SELECT p.proname, p.provolatile, p.proparallel, p.proisstrict
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'ann'
WHERE p.provolatile <> 'i' OR p.proparallel <> 's' OR NOT p.proisstrict
ORDER BY 1;
