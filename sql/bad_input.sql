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
