-- distance operators and functions on both types; values chosen so that
-- float32 arithmetic is exact whichever kernel runs
SELECT '[1,2,3]'::vector <-> '[4,6,3]' AS l2,
	   l2_distance('[1,2,3]'::vector, '[4,6,3]'),
	   vector_l2_squared_distance('[1,2,3]', '[4,6,3]');
SELECT '[1,2,3]'::vector <#> '[4,-5,6]' AS neg_ip,
	   inner_product('[1,2,3]'::vector, '[4,-5,6]'),
	   vector_negative_inner_product('[1,2,3]', '[4,-5,6]');
SELECT '[1,0]'::vector <=> '[0,1]' AS orthogonal,
	   '[1,1]'::vector <=> '[2,2]' AS same_direction,
	   '[1,1]'::vector <=> '[-3,-3]' AS opposite,
	   cosine_distance('[3,4]'::vector, '[4,3]');
SELECT '[1,2,3]'::vector <+> '[4,-5,6]' AS l1, l1_distance('[1,2,3]'::vector, '[4,-5,6]');

SELECT '[1,2,3]'::halfvec <-> '[4,6,3]' AS l2,
	   l2_distance('[1,2,3]'::halfvec, '[4,6,3]'),
	   halfvec_l2_squared_distance('[1,2,3]', '[4,6,3]');
SELECT '[1,2,3]'::halfvec <#> '[4,-5,6]' AS neg_ip,
	   inner_product('[1,2,3]'::halfvec, '[4,-5,6]'),
	   halfvec_negative_inner_product('[1,2,3]', '[4,-5,6]');
SELECT '[1,0]'::halfvec <=> '[0,1]' AS orthogonal,
	   '[1,1]'::halfvec <=> '[2,2]' AS same_direction,
	   '[1,1]'::halfvec <=> '[-3,-3]' AS opposite,
	   cosine_distance('[3,4]'::halfvec, '[4,3]');
SELECT '[1,2,3]'::halfvec <+> '[4,-5,6]' AS l1, l1_distance('[1,2,3]'::halfvec, '[4,-5,6]');

-- cosine distance of a zero vector is NaN (as in pgvector)
SELECT '[0,0]'::vector <=> '[1,1]' AS v_zero, '[0,0]'::halfvec <=> '[0,0]' AS h_zero;

-- distances are summed in float32: a sum that overflows raises the error
-- the arithmetic operators raise (<#> once returned NaN, <-> Infinity);
-- cosine also checks its norms, which overflow first
\set VERBOSITY sqlstate
SELECT '[3e38,3e38]'::vector <-> '[-3e38,-3e38]';
SELECT '[3e38]'::vector <-> '[0]';
SELECT '[3e38,3e38]'::vector <#> '[3e38,3e38]';
SELECT '[3e38,-3e38]'::vector <#> '[3e38,3e38]';
SELECT '[2e38,2e38]'::vector <#> '[2,-2]';
SELECT '[3e38,3e38]'::vector <=> '[3e38,3e38]';
SELECT '[2e38,1]'::vector <=> '[1,0]';
SELECT '[0,0]'::vector <=> '[3e38,3e38]';
SELECT '[3e38,3e38]'::vector <+> '[-3e38,-3e38]';
SELECT l2_distance('[3e38,3e38]'::vector, '[-3e38,-3e38]');
SELECT vector_l2_squared_distance('[2e19]', '[0]');
SELECT inner_product('[3e38,-3e38]'::vector, '[3e38,3e38]');
SELECT vector_negative_inner_product('[2e19]', '[2e19]');
SELECT cosine_distance('[3e38,3e38]'::vector, '[1,1]');
SELECT l1_distance('[3e38,3e38]'::vector, '[-3e38,-3e38]');
\set VERBOSITY default
SELECT '[3e38,-3e38]'::vector <#> '[3e38,3e38]';
-- large sums that fit are fine, and float16 sums cannot overflow float32
SELECT '[1e19]'::vector <-> '[0]' AS l2, '[1e19]'::vector <#> '[1e19]' AS neg_ip,
	   '[1e19,0]'::vector <=> '[0,1e19]' AS cos, '[1e38]'::vector <+> '[-1e38]' AS l1;
SELECT '[65504,65504]'::halfvec <-> '[-65504,-65504]' AS l2,
	   '[65504,65504]'::halfvec <#> '[65504,65504]' AS neg_ip,
	   '[65504,65504]'::halfvec <=> '[65504,-65504]' AS cos,
	   '[65504]'::halfvec <+> '[-65504]' AS l1;
-- (16000 elements of 65504: the float32 sums are rounded, differently by
-- each kernel, so only their size is shown)
SELECT abs((a <-> b) / (131008 * sqrt(16000::float8)) - 1) < 1e-3 AS l2_ok,
	   abs((a <#> a) / (-65504::float8 * 65504 * 16000) - 1) < 1e-3 AS neg_ip_ok,
	   (a <=> b) = 2 AS cos_ok,
	   abs((a <+> b) / (131008 * 16000::float8) - 1) < 1e-3 AS l1_ok
FROM (SELECT array_fill(65504, ARRAY[16000])::halfvec AS a,
			 array_fill(-65504, ARRAY[16000])::halfvec AS b) s;

-- long vectors exercise the SIMD main loops and every tail length
SELECT n,
	   l2_distance(a, b) = sqrt(n * 4.0::float8) AS l2_ok,
	   inner_product(a, b) = -n AS ip_ok,
	   l1_distance(a, b) = n * 2 AS l1_ok,
	   cosine_distance(a, b) AS cos,
	   l2_distance(a::halfvec, b::halfvec) = sqrt(n * 4.0::float8) AS half_l2_ok,
	   inner_product(a::halfvec, b::halfvec) = -n AS half_ip_ok,
	   l1_distance(a::halfvec, b::halfvec) = n * 2 AS half_l1_ok
FROM (SELECT n, array_fill(1, ARRAY[n])::vector AS a,
			 array_fill(-1, ARRAY[n])::vector AS b
	  FROM unnest(ARRAY[1, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 100, 784, 1536, 2047]) n) s
ORDER BY n;

-- operands must have the same number of dimensions
SELECT '[1,2]'::vector <-> '[1,2,3]';
SELECT '[1,2]'::vector <#> '[1,2,3]';
SELECT '[1,2]'::vector <=> '[1,2,3]';
SELECT '[1,2]'::vector <+> '[1,2,3]';
SELECT '[1,2]'::halfvec <-> '[1,2,3]';
SELECT '[1,2]'::halfvec <=> '[1,2,3]';

-- ORDER BY distance: exact nearest neighbours
CREATE TABLE items (id int, embedding vector(2));
INSERT INTO items VALUES (1, '[0,0]'), (2, '[3,4]'), (3, '[1,1]'), (4, '[-2,0]'), (5, NULL);
SELECT id, embedding <-> '[1,0]' AS d FROM items ORDER BY embedding <-> '[1,0]', id LIMIT 3;
SELECT id FROM items ORDER BY embedding <#> '[1,2]', id;
SELECT id FROM items ORDER BY embedding::halfvec <+> '[1,1]', id;
DROP TABLE items;
