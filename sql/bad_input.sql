-- malformed text is refused with invalid_text_representation (22P02) or
-- the SQLSTATE that names the problem
\set VERBOSITY sqlstate
SELECT '[1,2'::vector;
SELECT '1,2'::vector;
SELECT '[1,,2]'::vector;
SELECT '[1 2]'::vector;
SELECT '[1,2] x'::vector;
SELECT '[1,2]]'::vector;
SELECT '[1,2,]'::vector;
SELECT '[,1]'::vector;
SELECT '[a]'::vector;
SELECT '[1e]'::vector;
SELECT ''::vector;
SELECT '['::vector;
SELECT '[]'::vector;
SELECT '[ ]'::vector;
SELECT '[NaN]'::vector;
SELECT '[nan]'::vector;
SELECT '[Infinity]'::vector;
SELECT '[-inf]'::vector;
SELECT '[1e39]'::vector;
SELECT '[-1e39]'::vector;
SELECT '[1,2'::halfvec;
SELECT '[1 2]'::halfvec;
SELECT '[]'::halfvec;
SELECT '[NaN]'::halfvec;
SELECT '[inf]'::halfvec;
SELECT '[1e39]'::halfvec;
SELECT '[1e5]'::halfvec;
\set VERBOSITY default
-- and the messages themselves
SELECT '[1,2'::vector;
SELECT '[1 2]'::vector;
SELECT '[1,2] x'::vector;
SELECT '1,2'::vector;
SELECT '[]'::vector;
SELECT '[NaN]'::vector;
SELECT '[Infinity]'::vector;
SELECT '[1e39]'::vector;
SELECT '[1e5]'::halfvec;
SELECT '[1,2]'::vector <-> '[1]';
\set VERBOSITY sqlstate
SELECT '[1,2]'::vector <-> '[1]';
SELECT '[1]'::vector(0);
SELECT ('[' || repeat('1,', 16000) || '1]')::vector;
SELECT ARRAY[[1]]::vector;
SELECT ARRAY[NULL]::real[]::vector;
SELECT '[3e38]'::vector + '[3e38]';

-- typmods: out of range, more than one, not an integer, and called by
-- hand with an array that is empty, nested or holds a NULL
SELECT '[1]'::vector(-1);
SELECT '[1]'::vector(16001);
SELECT '[1]'::vector(2147483647);
SELECT '[1]'::vector(1, 2);
SELECT '[1]'::vector('a');
SELECT '[1]'::halfvec(0);
SELECT '[1]'::halfvec(16001);
SELECT '[1]'::halfvec(1, 2);
CREATE TABLE bad_typmod (v vector(99999999999));
SELECT vector_typmod_in('{}'::cstring[]);
SELECT vector_typmod_in('{{1}}'::cstring[]);
SELECT vector_typmod_in('{NULL}'::cstring[]);
SELECT vector_typmod_in('{x}'::cstring[]);
SELECT halfvec_typmod_in('{16001}'::cstring[]);
SELECT halfvec_typmod_in('{0}'::cstring[]);
SELECT vector_typmod_in('{16000}'::cstring[]), halfvec_typmod_in('{16000}'::cstring[]);
-- input and cast functions called by hand with a typmod no column can have
SELECT vector_in('[1,2]', 0, 0);
SELECT vector_in('[1,2]', 0, -7);
SELECT vector_in('[1,2]', 0, 16001);
SELECT halfvec_in('[1,2]', 0, -7);
SELECT vector('[1,2]'::vector, 0, false);
SELECT halfvec('[1,2]'::halfvec, 20000, false);
SELECT array_to_vector('{1,2}'::int[], -2, false);
SELECT array_to_halfvec('{1,2}'::real[], 16001, false);
SELECT vector_to_halfvec('[1]'::vector, 0, false);
SELECT halfvec_to_vector('[1]'::halfvec, -5, false);
SELECT vector_in('[1,2]', 0, 2), vector_in('[1,2]', 0, -1), halfvec_in('[1,2]', 0, 2);
SELECT vector_in('[1,2]', 0, 3);
-- casts from arrays: too long (also far too long), empty, nested, NULL
-- elements, and elements that are no float32 or float16
SELECT array_fill(1, ARRAY[16001])::vector;
SELECT array_fill(1, ARRAY[1000000])::vector;
SELECT array_fill(1::real, ARRAY[16001])::halfvec;
SELECT '{}'::int[]::vector;
SELECT '{}'::real[]::halfvec;
SELECT array_fill(1, ARRAY[0])::vector;
SELECT '{{1,2},{3,4}}'::real[]::vector;
SELECT '{{1,2},{3,4}}'::float8[]::halfvec;
SELECT '{{{1}}}'::numeric[]::vector;
SELECT '{1,NULL}'::int[]::vector;
SELECT '{NULL}'::numeric[]::halfvec;
SELECT '{NaN}'::numeric[]::vector;
SELECT '{Infinity}'::numeric[]::vector;
SELECT '{-Infinity}'::float8[]::halfvec;
SELECT '{NaN}'::real[]::vector;
SELECT '{1e39}'::float8[]::vector;
SELECT '{1e400}'::numeric[]::vector;
SELECT '{70000}'::int[]::halfvec;
SELECT '{1,2}'::int[]::vector(3);
SELECT '[3:4]={1,2}'::int[]::vector, vector_dims(array_fill(1, ARRAY[16000])::vector);
\set VERBOSITY default
SELECT '[1]'::vector(16001);
SELECT vector_in('[1,2]', 0, -7);
SELECT '{{1,2},{3,4}}'::real[]::vector;
SELECT '{1,NULL}'::int[]::vector;
SELECT array_fill(1, ARRAY[16001])::vector;
